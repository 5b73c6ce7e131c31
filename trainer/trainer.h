// One rank of the data-parallel reference trainer: model, data, ZeRO-1 AdamW, fault
// points and the rank's state. The communicator is passed in, so the same code runs in
// one process (tests) and under mpirun.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/anomaly.h"
#include "trainer/comm.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/faults.h"
#include "trainer/gpt.h"
#include "snapshot/snapshot_client.h"
#include "trainer/state_file.h"
#include "trainer/zero_adamw.h"

namespace bulwark::train {

struct StepReport {
  int64_t step = 0;
  double loss = 0;       // mean over every token of every rank
  double grad_norm = 0;  // L2 norm of the averaged gradient
  uint64_t digest = 0;   // Digest64 of all parameters after the update
  double step_ms = 0;
  double compute_ms = 0;  // this rank's forward and backward
  double slowed_ms = 0;   // extra compute burnt by a slow fault
  int64_t batch = 0;      // the data batch it trained on (1-based; the step, unless batches were skipped)
  std::optional<Anomaly> anomaly;  // set: the step was not applied (see RollBack)
};

// Fixed-size part of the state: everything except the float shards.
struct StateMeta {
  uint64_t fingerprint = 0;
  int64_t step = 0;
  int32_t world_size = 0;
  int32_t rank = 0;
  uint64_t parameter_count = 0;
  uint64_t rng_state = 0;
  uint64_t data_cursor = 0;
};
// Stored byte for byte in state files and snapshots: its layout is part of the format.
static_assert(sizeof(StateMeta) == 48, "StateMeta layout changed: bump the state file version");

class Trainer {
 public:
  // `initialize` false leaves the weights zero for a restore to fill: drawing ~100M normal
  // numbers per rank costs seconds of a recovery's restore for weights about to be
  // overwritten. A restore that fails must then call InitializeWeights.
  static Result<std::unique_ptr<Trainer>> Create(const TrainConfig& config, Comm& comm, bool initialize = true);
  // The initial weights from the config's init_seed (the same on every rank).
  void InitializeWeights();

  // One step. A step whose numbers are anomalous (anomaly.h) is not applied: the report
  // says so, the state stays at the step before, and the caller rolls back.
  StepReport Step();
  int64_t step() const { return meta_.step; }

  void set_anomaly_policy(const AnomalyPolicy& policy) { anomaly_ = AnomalyDetector(policy); }
  // Batches never trained on (a controller passes the job's on a relaunch).
  void SkipBatches(const std::vector<int64_t>& batches) { skip_batches_.insert(batches.begin(), batches.end()); }
  struct Rollback {
    int64_t to_step = 0;
    bool from_snapshot = false;      // false: no snapshot held; the state in memory never took the step
    std::vector<int64_t> skipped;    // batches newly skipped
  };
  // Collective, after an anomalous step (every rank saw the same one): back to the newest
  // snapshot every rank holds, with the batches BatchesToSkip names skipped from now on.
  Rollback RollBack(const StepReport& anomalous, const snapshot::SnapshotClient* snapshots);

  // This rank's complete state: meta, master-weight shard, both Adam moments.
  std::vector<NamedRange> StateRanges();
  Status SaveState(const std::string& path);
  // Restores this rank's state and then re-assembles the full parameters from every
  // rank's shard. Collective: every rank must call it; all fail if any fails.
  Status LoadState(const std::string& path);

  // Collective. Restores the state a world of `old_world` ranks saved at one step into this
  // world of any size (a job shrunk after losing a node, or grown): every old rank's state
  // is read by exactly one rank here, `read(old_rank, ranges)` for each old rank in `mine`.
  // The full vectors are put together by a reduce-scatter, so every float lands bit for bit
  // in its new shard. Rank j goes on with old rank j's data stream; the streams of old ranks
  // past this world's end are dropped (a shrunk job trains on fewer sequences per step).
  // Fails on every rank, changing nothing, if any part is missing, twice, or disagrees.
  using ReadOldRank = std::function<Status(int old_rank, const std::vector<NamedRange>& ranges)>;
  Status Reshard(int old_world, const std::vector<int>& mine, const ReadOldRank& read);

  // The same state into the agent's shared memory (the only stall: one copy), and back.
  Status SnapshotState(snapshot::SnapshotClient& client);
  // Collective: the ranks agree on the newest step every one of them holds and restore it;
  // fails on every rank (nothing changed) if any rank cannot.
  Status RestoreSnapshot(const snapshot::SnapshotClient& client, std::optional<uint64_t> step = std::nullopt);

  uint64_t ParameterDigest() const;
  size_t parameter_count() const { return layout_count_; }
  double FlopsPerStep() const { return model_.FlopsPerStep(); }

 private:
  // Reads this rank's state through `read` (a file, a snapshot), checks it against this
  // run, and agrees collectively; `source` names it in errors. A failure leaves a trainer
  // that held state unchanged, and one that held none still without (weights undefined,
  // moments zero: InitializeWeights makes it a fresh start).
  Status LoadFrom(const std::string& source, const std::function<Status(const std::vector<NamedRange>&)>& read);

  Trainer(const TrainConfig& config, Comm& comm, std::unique_ptr<DataLoader> loader, bool initialize);
  int64_t NextBatch() const { return static_cast<int64_t>(loader_->state().cursor / config_.micro_batch) + 1; }

  TrainConfig config_;
  Comm& comm_;
  Gpt model_;
  size_t layout_count_, padded_count_;
  ShardRange shard_;
  ZeroAdamW optimizer_;
  std::unique_ptr<DataLoader> loader_;
  FaultInjector faults_;
  StateMeta meta_;
  AnomalyDetector anomaly_{AnomalyPolicy{}};
  std::set<int64_t> skip_batches_;
  int64_t last_anomaly_step_ = 0;  // 0: none yet
  bool holds_state_ = false;       // weights drawn or restored (false only before either)
  HugeVector<float> params_, grads_, grad_shard_;
  std::vector<int32_t> inputs_, targets_;
};

}  // namespace bulwark::train
