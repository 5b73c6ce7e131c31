// The whole model's backward pass against central finite differences of its loss.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "trainer/gpt.h"
#include "trainer/rng.h"

namespace bulwark::train {
namespace {

TEST(GptGradientTest, BackwardMatchesFiniteDifferences) {
  ModelConfig m;
  m.vocab_size = 11;
  m.seq_len = 5;
  m.d_model = 16;
  m.n_layers = 2;
  m.n_heads = 2;
  const int B = 2;
  Gpt model(m, B);
  const size_t P = model.layout().parameter_count();
  std::vector<float> params(P), grads(P), scratch(P);
  model.Initialize(params.data(), 7);
  // Larger weights than GPT-2's init so every path carries a gradient well above float noise.
  SplitMix64 rng(3);
  for (auto& p : params) p += static_cast<float>(rng.Normal() * 0.3);

  std::vector<int32_t> in(B * m.seq_len), tgt(B * m.seq_len);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<int32_t>(rng.Below(m.vocab_size));
    tgt[i] = static_cast<int32_t>(rng.Below(m.vocab_size));
  }
  model.ForwardBackward(params.data(), grads.data(), in.data(), tgt.data());

  // Check a spread of entries in every tensor.
  int checked = 0;
  for (const auto& t : model.layout().tensors()) {
    for (size_t j = 0; j < t.size; j += std::max<size_t>(1, t.size / 5)) {
      const size_t i = t.offset + j;
      const float saved = params[i];
      const float h = 1e-2f;
      params[i] = saved + h;
      const double up = model.ForwardBackward(params.data(), scratch.data(), in.data(), tgt.data());
      params[i] = saved - h;
      const double down = model.ForwardBackward(params.data(), scratch.data(), in.data(), tgt.data());
      params[i] = saved;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grads[i], numeric, 2e-3 + 0.05 * std::fabs(numeric)) << t.name << "[" << j << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(GptGradientTest, SameInputsGiveBitIdenticalGradients) {
  ModelConfig m;
  m.vocab_size = 32;
  m.seq_len = 8;
  m.d_model = 32;
  m.n_layers = 2;
  m.n_heads = 2;
  Gpt a(m, 2), b(m, 2);
  const size_t P = a.layout().parameter_count();
  std::vector<float> params(P), ga(P), gb(P);
  a.Initialize(params.data(), 1);
  std::vector<int32_t> in(16), tgt(16);
  for (int i = 0; i < 16; ++i) {
    in[i] = i % 32;
    tgt[i] = (i * 7) % 32;
  }
  EXPECT_EQ(a.ForwardBackward(params.data(), ga.data(), in.data(), tgt.data()),
            b.ForwardBackward(params.data(), gb.data(), in.data(), tgt.data()));
  EXPECT_EQ(0, std::memcmp(ga.data(), gb.data(), P * sizeof(float)));
}

}  // namespace
}  // namespace bulwark::train
