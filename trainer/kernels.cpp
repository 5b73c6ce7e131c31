#include "trainer/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// Hot kernels are compiled twice, for AVX2 and for baseline x86-64, and picked at load
// time. FMA is deliberately not enabled: it would change rounding between the two.
#if defined(__x86_64__) && !defined(__clang__)
#define BULWARK_HOT __attribute__((target_clones("avx2", "default")))
#else
#define BULWARK_HOT
#endif

// The 32-byte vector helpers below are internal and always inlined; the note that passing
// them by value would change the ABI without AVX does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace bulwark::train::kernels {
namespace {

constexpr int kLanes = 8;
typedef float Vec8 __attribute__((vector_size(32)));

__attribute__((always_inline)) inline Vec8 Load(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
__attribute__((always_inline)) inline void Store(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }
__attribute__((always_inline)) inline Vec8 Splat(float x) { return Vec8{x, x, x, x, x, x, x, x}; }

// The one place lanes are combined: a fixed tree, identical on every target.
__attribute__((always_inline)) inline float SumLanes(Vec8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

constexpr int kTileOut = 64;  // weight rows kept hot in L2 while all input rows stream past

}  // namespace

BULWARK_HOT float Dot(const float* a, const float* b, int n) {
  Vec8 acc = Splat(0.f);
  for (int i = 0; i < n; i += kLanes) acc += Load(a + i) * Load(b + i);
  return SumLanes(acc);
}

BULWARK_HOT void Axpy(float* y, float a, const float* x, int n) {
  Vec8 va = Splat(a);
  for (int i = 0; i < n; i += kLanes) Store(y + i, Load(y + i) + va * Load(x + i));
}

BULWARK_HOT void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                               int OC) {
  constexpr int RN = 4, RO = 2;  // 8 accumulators + 6 operands fit the 16 vector registers
  for (int o_tile = 0; o_tile < OC; o_tile += kTileOut) {
    const int o_end = std::min(OC, o_tile + kTileOut);
    for (int n0 = 0; n0 < N; n0 += RN) {
      const int rn = std::min(RN, N - n0);
      for (int o0 = o_tile; o0 < o_end; o0 += RO) {
        const int ro = std::min(RO, o_end - o0);
        Vec8 acc[RN][RO];
        for (int i = 0; i < RN; ++i)
          for (int j = 0; j < RO; ++j) acc[i][j] = Splat(0.f);
        if (rn == RN && ro == RO) {
          const float* x0 = inp + (size_t)n0 * C;
          const float* w0 = weight + (size_t)o0 * C;
          for (int c = 0; c < C; c += kLanes) {
            Vec8 w[RO];
            for (int j = 0; j < RO; ++j) w[j] = Load(w0 + (size_t)j * C + c);
            for (int i = 0; i < RN; ++i) {
              Vec8 x = Load(x0 + (size_t)i * C + c);
              for (int j = 0; j < RO; ++j) acc[i][j] += x * w[j];
            }
          }
        } else {
          for (int i = 0; i < rn; ++i)
            for (int j = 0; j < ro; ++j)
              for (int c = 0; c < C; c += kLanes)
                acc[i][j] += Load(inp + (size_t)(n0 + i) * C + c) * Load(weight + (size_t)(o0 + j) * C + c);
        }
        for (int i = 0; i < rn; ++i)
          for (int j = 0; j < ro; ++j) {
            float v = SumLanes(acc[i][j]);
            out[(size_t)(n0 + i) * OC + o0 + j] = bias ? v + bias[o0 + j] : v;
          }
      }
    }
  }
}

namespace {

// y[rows][C] += a · b, summed over k in order: the shape shared by dinp (a = dout,
// b = weight) and dweight (a = doutᵀ, b = inp). a is addressed as a[r·a_row + k·a_col], so
// a transposed operand needs no copy. The micro-kernel keeps a 6 × 16 block of y in 12
// vector registers while k streams past.
BULWARK_HOT void AccumulateRowsTimesMatrix(float* y, int rows, int C, const float* a, size_t a_row, size_t a_col,
                                           const float* b, int K) {
  constexpr int RR = 6, CW = 2 * kLanes;
  for (int c = 0; c < C; c += CW) {
    const int lanes = std::min(CW, C - c) / kLanes;  // 2, or 1 at a C % 16 == 8 tail
    for (int r0 = 0; r0 < rows; r0 += RR) {
      const int rr = std::min(RR, rows - r0);
      if (rr == RR && lanes == 2) {
        Vec8 acc[RR][2];
        for (int i = 0; i < RR; ++i) {
          acc[i][0] = Load(y + (size_t)(r0 + i) * C + c);
          acc[i][1] = Load(y + (size_t)(r0 + i) * C + c + kLanes);
        }
        const float* ak = a + (size_t)r0 * a_row;
        for (int k = 0; k < K; ++k, ak += a_col) {
          const Vec8 b0 = Load(b + (size_t)k * C + c), b1 = Load(b + (size_t)k * C + c + kLanes);
          for (int i = 0; i < RR; ++i) {
            const Vec8 s = Splat(ak[i * a_row]);
            acc[i][0] += s * b0;
            acc[i][1] += s * b1;
          }
        }
        for (int i = 0; i < RR; ++i) {
          Store(y + (size_t)(r0 + i) * C + c, acc[i][0]);
          Store(y + (size_t)(r0 + i) * C + c + kLanes, acc[i][1]);
        }
      } else {
        // Edges: the same sums in the same order, one 8-lane vector at a time.
        for (int i = 0; i < rr; ++i)
          for (int l = 0; l < lanes; ++l) {
            float* yp = y + (size_t)(r0 + i) * C + c + l * kLanes;
            Vec8 acc = Load(yp);
            for (int k = 0; k < K; ++k)
              acc += Splat(a[(size_t)(r0 + i) * a_row + (size_t)k * a_col]) * Load(b + (size_t)k * C + c + l * kLanes);
            Store(yp, acc);
          }
      }
    }
  }
}

}  // namespace

void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                    const float* weight, int N, int C, int OC) {
  if (dinp) AccumulateRowsTimesMatrix(dinp, N, C, dout, OC, 1, weight, OC);
  AccumulateRowsTimesMatrix(dweight, OC, C, dout, 1, OC, inp, N);
  if (dbias) {
    for (int n = 0; n < N; ++n) {
      const float* d = dout + (size_t)n * OC;
      for (int o = 0; o < OC; ++o) dbias[o] += d[o];
    }
  }
}

void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                      const float* bias, int N, int C) {
  constexpr float kEps = 1e-5f;
  for (int n = 0; n < N; ++n) {
    const float* x = inp + (size_t)n * C;
    float m = 0.f;
    for (int c = 0; c < C; ++c) m += x[c];
    m /= C;
    float v = 0.f;
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= C;
    float s = 1.0f / std::sqrt(v + kEps);
    float* o = out + (size_t)n * C;
    for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, const float* mean, const float* rstd, int N, int C) {
  for (int n = 0; n < N; ++n) {
    const float* x = inp + (size_t)n * C;
    const float* d = dout + (size_t)n * C;
    float* dx = dinp + (size_t)n * C;
    const float m = mean[n], s = rstd[n];
    float d_mean = 0.f, d_norm_mean = 0.f;
    for (int c = 0; c < C; ++c) {
      float norm = (x[c] - m) * s;
      float dnorm = weight[c] * d[c];
      d_mean += dnorm;
      d_norm_mean += dnorm * norm;
    }
    d_mean /= C;
    d_norm_mean /= C;
    for (int c = 0; c < C; ++c) {
      float norm = (x[c] - m) * s;
      float dnorm = weight[c] * d[c];
      dbias[c] += d[c];
      dweight[c] += norm * d[c];
      dx[c] += (dnorm - d_mean - norm * d_norm_mean) * s;
    }
  }
}

void AttentionForward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const size_t C3 = 3 * (size_t)C;
  for (int b = 0; b < B; ++b) {
    const float* seq = qkv + (size_t)b * T * C3;
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < NH; ++h) {
        const float* q = seq + t * C3 + h * hs;
        float* a = att + (((size_t)b * NH + h) * T + t) * T;
        float max = -INFINITY;
        for (int t2 = 0; t2 <= t; ++t2) {
          a[t2] = Dot(q, seq + t2 * C3 + C + h * hs, hs) * scale;
          max = std::max(max, a[t2]);
        }
        float sum = 0.f;
        for (int t2 = 0; t2 <= t; ++t2) {
          a[t2] = std::exp(a[t2] - max);
          sum += a[t2];
        }
        const float inv = 1.0f / sum;
        for (int t2 = 0; t2 <= t; ++t2) a[t2] *= inv;
        for (int t2 = t + 1; t2 < T; ++t2) a[t2] = 0.f;
        float* o = out + ((size_t)b * T + t) * C + h * hs;
        std::memset(o, 0, sizeof(float) * hs);
        for (int t2 = 0; t2 <= t; ++t2) Axpy(o, a[t2], seq + t2 * C3 + 2 * C + h * hs, hs);
      }
    }
  }
}

void AttentionBackward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att, int B,
                       int T, int C, int NH) {
  const int hs = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const size_t C3 = 3 * (size_t)C;
  float* datt = scratch;
  for (int b = 0; b < B; ++b) {
    const float* seq = qkv + (size_t)b * T * C3;
    float* dseq = dqkv + (size_t)b * T * C3;
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < NH; ++h) {
        const float* a = att + (((size_t)b * NH + h) * T + t) * T;
        const float* d = dout + ((size_t)b * T + t) * C + h * hs;
        float weighted = 0.f;  // Σ a·datt, for the softmax backward
        for (int t2 = 0; t2 <= t; ++t2) {
          datt[t2] = Dot(d, seq + t2 * C3 + 2 * C + h * hs, hs);
          Axpy(dseq + t2 * C3 + 2 * C + h * hs, a[t2], d, hs);  // dv
          weighted += a[t2] * datt[t2];
        }
        const float* q = seq + t * C3 + h * hs;
        float* dq = dseq + t * C3 + h * hs;
        for (int t2 = 0; t2 <= t; ++t2) {
          const float dpre = a[t2] * (datt[t2] - weighted) * scale;
          Axpy(dq, dpre, seq + t2 * C3 + C + h * hs, hs);
          Axpy(dseq + t2 * C3 + C + h * hs, dpre, q, hs);  // dk
        }
      }
    }
  }
}

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
}

void GeluForward(float* out, const float* inp, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kGeluScale * (x + 0.044715f * x * x * x)));
  }
}

void GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float x = inp[i];
    float u = kGeluScale * (x + 0.044715f * x * x * x);
    float th = std::tanh(u);
    float sech2 = 1.0f - th * th;
    float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += grad * dout[i];
  }
}

void EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      float* o = out + ((size_t)b * T + t) * C;
      const float* e = wte + (size_t)tokens[b * T + t] * C;
      const float* p = wpe + (size_t)t * C;
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    }
}

void EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const float* d = dout + ((size_t)b * T + t) * C;
      float* de = dwte + (size_t)tokens[b * T + t] * C;
      float* dp = dwpe + (size_t)t * C;
      for (int c = 0; c < C; ++c) {
        de[c] += d[c];
        dp[c] += d[c];
      }
    }
}

double CrossEntropyForwardBackward(float* logits, const int32_t* targets, int N, int V, float grad_scale) {
  double total = 0;
  for (int n = 0; n < N; ++n) {
    float* row = logits + (size_t)n * V;
    float max = -INFINITY;
    for (int v = 0; v < V; ++v) max = std::max(max, row[v]);
    float sum = 0.f;
    for (int v = 0; v < V; ++v) {
      row[v] = std::exp(row[v] - max);
      sum += row[v];
    }
    const float inv = 1.0f / sum;
    const int target = targets[n];
    total += -std::log(static_cast<double>(row[target] * inv));
    for (int v = 0; v < V; ++v) row[v] = row[v] * inv * grad_scale;
    row[target] -= grad_scale;
  }
  return total;
}

}  // namespace bulwark::train::kernels
