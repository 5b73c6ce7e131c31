// Everyone slower together: a slow network makes every collective take longer with no rank
// late. The last rank to arrive waits for nobody, so its time inside the call is the
// transfer itself. Per communicator, the median of that over the first `baseline`
// collectives is what the network normally costs this job; the median over the newest
// `window` is what it costs now. Communication is slow when now is `factor` times normal
// and at least `min_extra_us` more (microsecond collectives triple by scheduling alone).
// Pure: timings in, an assessment out.
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "diagnostics/lateness.h"

namespace bulwark::diagnostics {

struct TransferOptions {
  size_t baseline = 50;
  size_t window = 50;
  double factor = 3;
  double min_extra_us = 500;
};

struct TransferAssessment {
  bool slow = false;
  double normal_us = 0, now_us = 0;  // medians of the last arrival's time inside
};

class TransferTracker {
 public:
  explicit TransferTracker(TransferOptions options = {}) : options_(options) {}
  void Add(const CollectiveTiming& timing);
  TransferAssessment Assess() const;

 private:
  TransferOptions options_;
  std::vector<double> baseline_;
  std::deque<double> recent_;
};

}  // namespace bulwark::diagnostics
