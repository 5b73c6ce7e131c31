// Training anomalies: a step whose loss or gradient norm is not finite, or whose loss
// spikes past `spike_factor` times the median of the last `window` accepted steps. Pure:
// every rank feeds it the same all-reduced numbers, so every rank reaches the same answer
// and the ranks roll back together without another collective.
//
// The check runs before the optimizer applies the step, so a bad batch never reaches the
// weights. What to roll back to and which batches to skip is RollbackPlan's: the first
// anomaly skips its batch; one that comes back before training has got past an earlier
// anomaly's step means the weights, not the batch, went bad, and every batch since the
// snapshot is skipped.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bulwark::train {

struct AnomalyPolicy {
  double spike_factor = 0;  // 0: only non-finite numbers are anomalies
  int window = 20;          // accepted steps the median is taken over
  int min_history = 5;      // fewer accepted steps than this: no spike judged yet
};

struct Anomaly {
  std::string kind;  // "nan" (loss or gradient norm not finite) or "loss_spike"
  int64_t step = 0;
  double loss = 0, grad_norm = 0, median_loss = 0;
};

class AnomalyDetector {
 public:
  explicit AnomalyDetector(AnomalyPolicy policy) : policy_(policy) {}

  std::optional<Anomaly> Check(int64_t step, double loss, double grad_norm) const;
  // The step was applied: its loss joins the history.
  void Accept(int64_t step, double loss);
  // The run went back to `step`: later history is forgotten (it is replayed).
  void ForgetAfter(int64_t step);

 private:
  AnomalyPolicy policy_;
  std::deque<std::pair<int64_t, double>> history_;  // (step, loss), oldest first
};

// Which batches a rollback skips. `batch`: the data batch the anomaly trained on;
// `first_batch_after_snapshot`: the batch the step after the restored snapshot trains on
// (nullopt: no snapshot, the state in memory is the state before the anomaly);
// `repeat`: an earlier anomaly's step has not been passed since.
std::vector<int64_t> BatchesToSkip(int64_t batch, std::optional<int64_t> first_batch_after_snapshot, bool repeat);

}  // namespace bulwark::train
