// Fault points for tests and the demo: this rank crashes, hangs or slows down on purpose.
// Each firing is announced as one JSON line on stderr, so tests and operators can see
// exactly what was injected, where and when.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/config.h"

namespace bulwark::train {

class FaultInjector {
 public:
  // `node` is where this rank runs (BULWARK_NODE; "" when unknown).
  FaultInjector(std::vector<FaultPoint> points, int rank, const std::string& node);

  // Start of step `step` (1-based): a crash fault kills this process with SIGKILL.
  void BeforeStep(int64_t step) const;
  // Just before the step's first collective: a hang fault blocks forever.
  void BeforeCollective(int64_t step) const;
  // After the step's compute took compute_ms: a slow fault burns percent% more compute.
  // Returns the extra milliseconds spent.
  double AfterCompute(int64_t step, double compute_ms) const;
  // After the forward and backward on data batch `batch`: what a poisoned batch does to this
  // rank's loss and gradients (a factor: 1 clean, NaN, or 50 for a spike).
  double PoisonFactor(int64_t batch) const;

 private:
  std::vector<FaultPoint> points_;  // only this rank's
  int rank_;
};

}  // namespace bulwark::train
