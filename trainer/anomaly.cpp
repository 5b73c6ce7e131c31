#include "trainer/anomaly.h"

#include <algorithm>
#include <cmath>

namespace bulwark::train {

std::optional<Anomaly> AnomalyDetector::Check(int64_t step, double loss, double grad_norm) const {
  Anomaly a;
  a.step = step;
  a.loss = loss;
  a.grad_norm = grad_norm;
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    a.kind = "nan";
    return a;
  }
  if (policy_.spike_factor <= 0 || static_cast<int>(history_.size()) < policy_.min_history) return std::nullopt;
  std::vector<double> losses;
  for (const auto& [s, l] : history_) losses.push_back(l);
  std::nth_element(losses.begin(), losses.begin() + losses.size() / 2, losses.end());
  a.median_loss = losses[losses.size() / 2];
  if (loss <= policy_.spike_factor * a.median_loss) return std::nullopt;
  a.kind = "loss_spike";
  return a;
}

void AnomalyDetector::Accept(int64_t step, double loss) {
  history_.emplace_back(step, loss);
  while (static_cast<int>(history_.size()) > policy_.window) history_.pop_front();
}

void AnomalyDetector::ForgetAfter(int64_t step) {
  while (!history_.empty() && history_.back().first > step) history_.pop_back();
}

std::vector<int64_t> BatchesToSkip(int64_t batch, std::optional<int64_t> first_batch_after_snapshot, bool repeat) {
  if (!repeat || !first_batch_after_snapshot || *first_batch_after_snapshot > batch) return {batch};
  std::vector<int64_t> out;
  for (int64_t b = *first_batch_after_snapshot; b <= batch; ++b) out.push_back(b);
  return out;
}

}  // namespace bulwark::train
