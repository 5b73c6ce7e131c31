#include "trainer/zero_adamw.h"

#include <algorithm>
#include <cmath>

namespace bulwark::train {

size_t PaddedCount(size_t count, int world) {
  const size_t w = static_cast<size_t>(world);
  return (count + w - 1) / w * w;
}

ShardRange ShardOf(size_t padded_count, int rank, int world) {
  const size_t chunk = padded_count / static_cast<size_t>(world);
  return {chunk * rank, chunk * (rank + 1)};
}

ZeroAdamW::ZeroAdamW(const OptimConfig& config, const GptLayout& layout, ShardRange shard)
    : config_(config), m_(shard.size(), 0.f), v_(shard.size(), 0.f) {
  for (const auto& t : layout.tensors()) {
    const size_t b = std::max(t.offset, shard.begin), e = std::min(t.offset + t.size, shard.end);
    if (b < e) segments_.push_back({b - shard.begin, e - shard.begin, t.decay});
  }
  // The padding past the last tensor has zero gradients; it never moves and is not decayed.
}

double ZeroAdamW::LearningRate(int64_t step) const {
  if (config_.warmup_steps > 0 && step < config_.warmup_steps) {
    return config_.lr * static_cast<double>(step) / config_.warmup_steps;
  }
  return config_.lr;
}

void ZeroAdamW::Update(float* params, const float* grads, int64_t step) {
  const float lr = static_cast<float>(LearningRate(step));
  const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const float bc1 = static_cast<float>(1.0 - std::pow(config_.beta1, static_cast<double>(step)));
  const float bc2 = static_cast<float>(1.0 - std::pow(config_.beta2, static_cast<double>(step)));
  const float eps = static_cast<float>(config_.eps);
  const float wd = static_cast<float>(config_.weight_decay);
  for (const Segment& s : segments_) {
    const float decay = s.decay ? wd : 0.f;
    for (size_t i = s.begin; i < s.end; ++i) {
      const float g = grads[i];
      m_[i] = b1 * m_[i] + (1.f - b1) * g;
      v_[i] = b2 * v_[i] + (1.f - b2) * g * g;
      const float m_hat = m_[i] / bc1, v_hat = v_[i] / bc2;
      params[i] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + decay * params[i]);
    }
  }
}

}  // namespace bulwark::train
