#include "trainer/zero_adamw.h"

#include <gtest/gtest.h>

#include <cmath>

namespace bulwark::train {
namespace {

TEST(ZeroAdamWTest, ShardsTileThePaddedVector) {
  EXPECT_EQ(PaddedCount(10, 4), 12u);
  EXPECT_EQ(PaddedCount(12, 4), 12u);
  size_t next = 0;
  for (int r = 0; r < 4; ++r) {
    ShardRange s = ShardOf(12, r, 4);
    EXPECT_EQ(s.begin, next);
    EXPECT_EQ(s.size(), 3u);
    next = s.end;
  }
  EXPECT_EQ(next, 12u);
}

// A 1-layer model whose layout starts with wte (decayed, 128 floats) and then wpe (not).
const GptLayout& TinyLayout() {
  static const GptLayout layout(ModelConfig{16, 4, 8, 1, 1});
  return layout;
}

OptimConfig Adam(double lr, int warmup_steps, double weight_decay) {
  OptimConfig o;
  o.lr = lr;
  o.warmup_steps = warmup_steps;
  o.weight_decay = weight_decay;
  return o;
}

TEST(ZeroAdamWTest, FirstStepMovesEachWeightByLearningRateAgainstItsGradient) {
  ZeroAdamW opt(Adam(0.01, 0, 0), TinyLayout(), {0, 8});
  std::vector<float> p(8, 1.f), g = {1, -2, 3, -4, 0.5f, -0.5f, 2, -2};
  opt.Update(p.data(), g.data(), 1);
  // After bias correction the first Adam step is lr · sign(g) (up to eps).
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(p[i], 1.f - 0.01f * (g[i] > 0 ? 1 : -1), 1e-6);
}

TEST(ZeroAdamWTest, DecayAppliesToMatricesOnly) {
  ZeroAdamW opt(Adam(0.1, 0, 0.5), TinyLayout(), {120, 136});  // straddles wte | wpe
  std::vector<float> p(16, 1.f), g(16, 0.f);
  opt.Update(p.data(), g.data(), 1);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(p[i], 1.f - 0.1f * 0.5f, 1e-6) << i;
  for (int i = 8; i < 16; ++i) EXPECT_FLOAT_EQ(p[i], 1.f) << i;
}

TEST(ZeroAdamWTest, WarmupRampsLinearly) {
  ZeroAdamW opt(Adam(1.0, 4, 0.1), TinyLayout(), {0, 8});
  EXPECT_DOUBLE_EQ(opt.LearningRate(1), 0.25);
  EXPECT_DOUBLE_EQ(opt.LearningRate(4), 1.0);
  EXPECT_DOUBLE_EQ(opt.LearningRate(100), 1.0);
}

}  // namespace
}  // namespace bulwark::train
