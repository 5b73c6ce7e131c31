// A GPT-style decoder-only transformer (pre-LayerNorm, GELU MLP, tied output head) with
// forward and backward passes on CPU. All parameters live in one flat float vector, laid
// out by GptLayout, so that sharding, reduction and snapshots see a single range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/huge_page_allocator.h"
#include "trainer/config.h"

namespace bulwark::train {

struct TensorSlot {
  std::string name;
  size_t offset = 0;  // in floats, into the flat parameter vector
  size_t size = 0;
  bool decay = false;  // weight decay applies to matrices, not to biases, norms or positions
};

class GptLayout {
 public:
  explicit GptLayout(const ModelConfig& config);

  const std::vector<TensorSlot>& tensors() const { return tensors_; }
  size_t parameter_count() const { return total_; }
  const TensorSlot& Find(const std::string& name) const;

 private:
  size_t Add(const std::string& name, size_t size, bool decay);
  std::vector<TensorSlot> tensors_;
  size_t total_ = 0;
};

class Gpt {
 public:
  Gpt(const ModelConfig& config, int batch);

  const GptLayout& layout() const { return layout_; }

  // Deterministic initialisation from a seed (GPT-2's scheme: N(0, 0.02), residual
  // projections scaled by 1/sqrt(2·layers), norms at 1, biases at 0).
  void Initialize(float* params, uint64_t seed) const;

  // Forward and backward over batch × seq_len tokens. Overwrites grads with
  // d(mean loss)/d(params) and returns the mean loss.
  double ForwardBackward(const float* params, float* grads, const int32_t* inputs, const int32_t* targets);

  // FLOPs of one ForwardBackward (matmuls and attention), for throughput reports.
  double FlopsPerStep() const;

 private:
  struct Layer;
  Layer LayerView(const float* base, int l) const;

  ModelConfig config_;
  int batch_;
  GptLayout layout_;

  // Activations kept for the backward pass, sized once.
  HugeVector<float> encoded_, residual_, ln1_, ln1_mean_, ln1_rstd_, qkv_, atty_, att_, attproj_, residual2_,
      ln2_, ln2_mean_, ln2_rstd_, fch_, fch_gelu_, fcproj_, lnf_, lnf_mean_, lnf_rstd_, logits_;
  // Gradient scratch.
  HugeVector<float> dresidual_, dln_, dqkv_, datty_, dfch_, dfch_gelu_, dlnf_, scratch_;
};

}  // namespace bulwark::train
