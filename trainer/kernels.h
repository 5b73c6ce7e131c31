// CPU kernels of the reference GPT: forward and backward of each layer type.
//
// Determinism contract: every output element is a sum taken in one fixed order that the
// code spells out (lanes of 8, combined in a fixed tree), with no FMA contraction. The
// compiler may vectorise with SSE or AVX2; the bits come out the same either way, so a
// rank restarted on another machine continues bit-identically.
//
// Shapes: N rows (batch × time), C input channels, OC output channels. Weights are
// [OC][C] row-major (PyTorch's Linear layout). Row lengths C must be multiples of 8.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bulwark::train::kernels {

// out[N][OC] = inp[N][C] · weightᵀ + bias   (bias may be null)
void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);

// Accumulates: dinp += dout · weight; dweight += doutᵀ · inp; dbias += Σₙ dout.
// dinp and dbias may be null.
void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                    const float* weight, int N, int C, int OC);

void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                      const float* bias, int N, int C);
// Accumulates into dinp, dweight, dbias.
void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, const float* mean, const float* rstd, int N, int C);

// Causal multi-head attention over qkv[B][T][3C] (q, k, v concatenated).
// out[B][T][C]; att[B][NH][T][T] keeps the softmax for the backward pass.
void AttentionForward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
// Accumulates into dqkv. scratch must hold T floats.
void AttentionBackward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att, int B,
                       int T, int C, int NH);

void GeluForward(float* out, const float* inp, size_t n);
// Accumulates into dinp.
void GeluBackward(float* dinp, const float* inp, const float* dout, size_t n);

// out[B][T][C] = wte[token] + wpe[position]
void EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int T, int C);
// Accumulates into dwte and dwpe.
void EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int T, int C);

// Softmax cross-entropy over logits[N][V]; overwrites logits with dloss/dlogits × grad_scale
// and returns the sum of the N token losses.
double CrossEntropyForwardBackward(float* logits, const int32_t* targets, int N, int V, float grad_scale);

// Dot product of n floats (n a multiple of 8) in the fixed 8-lane order.
float Dot(const float* a, const float* b, int n);

void Axpy(float* y, float a, const float* x, int n);

}  // namespace bulwark::train::kernels
