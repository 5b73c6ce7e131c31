// Exponential backoff with jitter for reconnecting clients: each wait doubles up to a cap,
// and is drawn uniformly from [wait/2, wait] so that thousands of agents that lost the
// controller together do not come back in lockstep.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

namespace bulwark {

class Backoff {
 public:
  Backoff(int64_t initial_ms, int64_t max_ms, uint64_t seed)
      : initial_ms_(initial_ms), max_ms_(max_ms), current_ms_(initial_ms), rng_(seed) {}

  // The next wait, in milliseconds.
  int64_t NextMs() {
    const int64_t ceiling = current_ms_;
    current_ms_ = std::min(max_ms_, current_ms_ * 2);
    std::uniform_int_distribution<int64_t> pick(ceiling / 2, ceiling);
    return pick(rng_);
  }
  void Reset() { current_ms_ = initial_ms_; }

 private:
  int64_t initial_ms_, max_ms_, current_ms_;
  std::mt19937_64 rng_;
};

}  // namespace bulwark
