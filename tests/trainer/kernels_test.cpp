// The kernels against plain double-precision reference loops.
#include "trainer/kernels.h"

#include <gtest/gtest.h>

#include <vector>

#include "trainer/rng.h"

namespace bulwark::train {
namespace {

std::vector<float> Random(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.Uniform() * 2 - 1);
  return v;
}

// Shapes chosen to hit every tail: rows not a multiple of 4, outputs not a multiple of
// the 64-row tile or of the 2-wide micro-kernel, channels a multiple of 8 but not of 16.
struct Shape {
  int N, C, OC;
};
class MatmulTest : public ::testing::TestWithParam<Shape> {};

TEST_P(MatmulTest, ForwardMatchesReference) {
  const auto [N, C, OC] = GetParam();
  auto inp = Random((size_t)N * C, 1), w = Random((size_t)OC * C, 2), b = Random(OC, 3);
  std::vector<float> out((size_t)N * OC);
  kernels::MatmulForward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double ref = b[o];
      for (int c = 0; c < C; ++c) ref += (double)inp[n * C + c] * w[o * C + c];
      ASSERT_NEAR(out[n * OC + o], ref, 1e-4) << "n=" << n << " o=" << o;
    }
}

TEST_P(MatmulTest, BackwardMatchesReferenceAndAccumulates) {
  const auto [N, C, OC] = GetParam();
  auto inp = Random((size_t)N * C, 4), w = Random((size_t)OC * C, 5), dout = Random((size_t)N * OC, 6);
  std::vector<float> dinp((size_t)N * C, 0.5f), dw((size_t)OC * C, 0.25f), db(OC, -1.f);
  kernels::MatmulBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      double ref = 0.5;
      for (int o = 0; o < OC; ++o) ref += (double)dout[n * OC + o] * w[o * C + c];
      ASSERT_NEAR(dinp[n * C + c], ref, 1e-4);
    }
  for (int o = 0; o < OC; ++o) {
    double refb = -1;
    for (int n = 0; n < N; ++n) refb += dout[n * OC + o];
    ASSERT_NEAR(db[o], refb, 1e-4);
    for (int c = 0; c < C; ++c) {
      double ref = 0.25;
      for (int n = 0; n < N; ++n) ref += (double)dout[n * OC + o] * inp[n * C + c];
      ASSERT_NEAR(dw[o * C + c], ref, 1e-4);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulTest,
                         ::testing::Values(Shape{1, 8, 1}, Shape{4, 16, 2}, Shape{7, 24, 5}, Shape{13, 40, 67},
                                           Shape{33, 64, 130}),
                         [](const auto& info) {
                           const Shape& s = info.param;
                           return "N" + std::to_string(s.N) + "_C" + std::to_string(s.C) + "_OC" + std::to_string(s.OC);
                         });

TEST(KernelsTest, DotMatchesReference) {
  auto a = Random(72, 7), b = Random(72, 8);
  double ref = 0;
  for (int i = 0; i < 72; ++i) ref += (double)a[i] * b[i];
  EXPECT_NEAR(kernels::Dot(a.data(), b.data(), 72), ref, 1e-5);
}

TEST(KernelsTest, CrossEntropyGradientIsSoftmaxMinusOneHot) {
  std::vector<float> logits = {1.f, 2.f, 3.f, 0.f};
  std::vector<int32_t> target = {2};
  const double loss = kernels::CrossEntropyForwardBackward(logits.data(), target.data(), 1, 4, 1.f);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + 1.0;
  EXPECT_NEAR(loss, -std::log(std::exp(3.0) / z), 1e-6);
  EXPECT_NEAR(logits[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(logits[2], std::exp(3.0) / z - 1.0, 1e-6);
}

TEST(KernelsTest, AttentionIsCausal) {
  // Changing a later token's key and value must not change an earlier token's output.
  const int B = 1, T = 4, C = 16, NH = 2;
  auto qkv = Random((size_t)B * T * 3 * C, 9);
  std::vector<float> out1((size_t)T * C), out2((size_t)T * C), att((size_t)NH * T * T);
  kernels::AttentionForward(out1.data(), att.data(), qkv.data(), B, T, C, NH);
  for (int c = C; c < 3 * C; ++c) qkv[3 * 3 * C + c] += 1.0f;  // token 3's k and v
  kernels::AttentionForward(out2.data(), att.data(), qkv.data(), B, T, C, NH);
  for (int i = 0; i < 3 * C; ++i) EXPECT_EQ(out1[i], out2[i]);
  bool last_changed = false;
  for (int i = 3 * C; i < 4 * C; ++i) last_changed |= out1[i] != out2[i];
  EXPECT_TRUE(last_changed);
}

}  // namespace
}  // namespace bulwark::train
