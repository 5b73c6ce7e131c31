// AdamW with ZeRO-1 sharding: rank r owns elements [begin, end) of the flat parameter
// vector — the fp32 master weights there and both Adam moments — so every rank's optimizer
// state is different from every other's (the state a snapshot must protect).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/huge_page_allocator.h"
#include "trainer/config.h"
#include "trainer/gpt.h"

namespace bulwark::train {

struct ShardRange {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

// The flat vector is padded to a multiple of the world size; shards are equal.
size_t PaddedCount(size_t count, int world);
ShardRange ShardOf(size_t padded_count, int rank, int world);

class ZeroAdamW {
 public:
  ZeroAdamW(const OptimConfig& config, const GptLayout& layout, ShardRange shard);

  // One update of the owned shard with the (already averaged) gradient shard.
  // step is 1-based: the bias corrections and the warmup depend on it.
  void Update(float* params_shard, const float* grad_shard, int64_t step);
  double LearningRate(int64_t step) const;

  HugeVector<float>& m() { return m_; }
  HugeVector<float>& v() { return v_; }

 private:
  struct Segment {
    size_t begin, end;  // relative to the shard
    bool decay;
  };
  OptimConfig config_;
  std::vector<Segment> segments_;  // the shard cut at tensor edges, with each tensor's decay flag
  HugeVector<float> m_, v_;
};

}  // namespace bulwark::train
