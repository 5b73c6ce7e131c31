#include "diagnostics/transfer.h"

#include <algorithm>

namespace bulwark::diagnostics {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace

void TransferTracker::Add(const CollectiveTiming& timing) {
  if (timing.in_call_us.size() < 2) return;
  const double transfer = *std::min_element(timing.in_call_us.begin(), timing.in_call_us.end());
  if (baseline_.size() < options_.baseline) {
    baseline_.push_back(transfer);
    return;
  }
  recent_.push_back(transfer);
  while (recent_.size() > options_.window) recent_.pop_front();
}

TransferAssessment TransferTracker::Assess() const {
  TransferAssessment a;
  if (baseline_.size() < options_.baseline || recent_.size() < options_.window) return a;
  a.normal_us = Median(baseline_);
  a.now_us = Median(std::vector<double>(recent_.begin(), recent_.end()));
  a.slow = a.now_us >= options_.factor * a.normal_us && a.now_us - a.normal_us >= options_.min_extra_us;
  return a;
}

}  // namespace bulwark::diagnostics
