#include "trainer/trainer.h"

#include <algorithm>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <map>

#include "common/digest.h"

namespace bulwark::train {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Σ over ranks in rank order: the same bits on every rank and every run.
double OrderedSum(const std::vector<double>& values) {
  double s = 0;
  for (double v : values) s += v;
  return s;
}

}  // namespace

Result<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config, Comm& comm, bool initialize) {
  for (size_t i = 0; i < config.faults.size(); ++i) {
    if (config.faults[i].rank >= comm.size()) {
      return Status::Error("faults[" + std::to_string(i) + "].rank " + std::to_string(config.faults[i].rank) +
                           " is outside the world of " + std::to_string(comm.size()) + " ranks");
    }
  }
  auto loader = DataLoader::Create(config, comm.rank());
  if (!loader.ok()) return loader.status();
  return std::unique_ptr<Trainer>(new Trainer(config, comm, std::move(loader.value()), initialize));
}

Trainer::Trainer(const TrainConfig& config, Comm& comm, std::unique_ptr<DataLoader> loader, bool initialize)
    : config_(config),
      comm_(comm),
      model_(config.model, config.micro_batch),
      layout_count_(model_.layout().parameter_count()),
      padded_count_(PaddedCount(layout_count_, comm.size())),
      shard_(ShardOf(padded_count_, comm.rank(), comm.size())),
      optimizer_(config.optim, model_.layout(), shard_),
      loader_(std::move(loader)),
      faults_(config.faults, comm.rank(), std::getenv("BULWARK_NODE") ? std::getenv("BULWARK_NODE") : ""),
      params_(padded_count_, 0.f),
      grads_(padded_count_, 0.f),
      grad_shard_(shard_.size(), 0.f),
      inputs_((size_t)config.micro_batch * config.model.seq_len),
      targets_((size_t)config.micro_batch * config.model.seq_len) {
  if (initialize) InitializeWeights();
  meta_.fingerprint = config.Fingerprint();
  meta_.world_size = comm.size();
  meta_.rank = comm.rank();
  meta_.parameter_count = layout_count_;
}

// Every rank initialises the full vector identically; each then owns its shard of it.
void Trainer::InitializeWeights() {
  model_.Initialize(params_.data(), config_.init_seed);
  holds_state_ = true;
}

StepReport Trainer::Step() {
  const auto start = std::chrono::steady_clock::now();
  const int64_t step = meta_.step + 1;
  faults_.BeforeStep(step);

  while (skip_batches_.count(NextBatch())) loader_->NextBatch(inputs_.data(), targets_.data());  // drawn, dropped
  const int64_t batch = NextBatch();
  loader_->NextBatch(inputs_.data(), targets_.data());
  double loss = model_.ForwardBackward(params_.data(), grads_.data(), inputs_.data(), targets_.data());
  if (const double poison = faults_.PoisonFactor(batch); poison != 1.0) {
    loss *= poison;
    for (float& g : grads_) g *= static_cast<float>(poison);
  }
  const double compute_ms = MsSince(start);
  const double slowed_ms = faults_.AfterCompute(step, compute_ms);

  faults_.BeforeCollective(step);
  comm_.ReduceScatterSum(grads_.data(), grad_shard_.data(), shard_.size());
  const float inv_world = 1.0f / static_cast<float>(comm_.size());
  double local_sq = 0;
  for (float& g : grad_shard_) {
    g *= inv_world;
    local_sq += static_cast<double>(g) * g;
  }
  const double grad_norm = std::sqrt(OrderedSum(comm_.AllGatherDouble(local_sq)));
  const double mean_loss = OrderedSum(comm_.AllGatherDouble(loss)) / comm_.size();

  StepReport r;
  r.anomaly = anomaly_.Check(step, mean_loss, grad_norm);
  if (!r.anomaly) {
    anomaly_.Accept(step, mean_loss);
    optimizer_.Update(params_.data() + shard_.begin, grad_shard_.data(), step);
    comm_.AllGather(params_.data(), shard_.size());
    meta_.step = step;
  }
  r.batch = batch;
  r.step = step;
  r.loss = mean_loss;
  r.grad_norm = grad_norm;
  r.digest = comm_.rank() == 0 ? ParameterDigest() : 0;
  r.compute_ms = compute_ms;
  r.slowed_ms = slowed_ms;
  r.step_ms = MsSince(start);
  return r;
}

Trainer::Rollback Trainer::RollBack(const StepReport& anomalous, const snapshot::SnapshotClient* snapshots) {
  const bool repeat = last_anomaly_step_ != 0 && anomalous.step <= last_anomaly_step_;
  last_anomaly_step_ = std::max(last_anomaly_step_, anomalous.step);
  Rollback out;
  std::optional<int64_t> first_after_snapshot;
  // Collective on every rank alike; on failure nothing changed and the state in memory,
  // which never took the anomalous step, is where training goes on.
  if (snapshots && RestoreSnapshot(*snapshots).ok()) {
    out.from_snapshot = true;
    first_after_snapshot = NextBatch();
  }
  out.to_step = meta_.step;
  anomaly_.ForgetAfter(meta_.step);
  for (int64_t b : BatchesToSkip(anomalous.batch, first_after_snapshot, repeat)) {
    if (skip_batches_.insert(b).second) out.skipped.push_back(b);
  }
  return out;
}

uint64_t Trainer::ParameterDigest() const { return Digest64(params_.data(), layout_count_ * sizeof(float)); }

std::vector<NamedRange> Trainer::StateRanges() {
  const LoaderState ls = loader_->state();
  meta_.rng_state = ls.rng_state;
  meta_.data_cursor = ls.cursor;
  const size_t shard_bytes = shard_.size() * sizeof(float);
  return {
      {"meta", &meta_, sizeof meta_},
      {"master_weights", params_.data() + shard_.begin, shard_bytes},
      {"adam_m", optimizer_.m().data(), shard_bytes},
      {"adam_v", optimizer_.v().data(), shard_bytes},
  };
}

Status Trainer::SaveState(const std::string& path) { return WriteStateFile(path, StateRanges()); }

Status Trainer::LoadState(const std::string& path) {
  return LoadFrom(path, [&](const std::vector<NamedRange>& ranges) { return ReadStateFile(path, ranges); });
}

Status Trainer::SnapshotState(snapshot::SnapshotClient& client) {
  Status s = client.Begin(static_cast<uint64_t>(meta_.step));
  for (const auto& r : StateRanges()) {
    if (s.ok()) s = client.Add(r.name, r.data, r.bytes);
  }
  return s.ok() ? client.Commit() : s;
}

Status Trainer::RestoreSnapshot(const snapshot::SnapshotClient& client, std::optional<uint64_t> wanted) {
  // A crash between two ranks' commits leaves them one step apart; each keeps its previous
  // version too, so the oldest of the newest steps is held by all. A controller that names
  // the step (its recovery point) gets exactly that one.
  const auto latest = client.Latest();
  const auto all = comm_.AllGatherU64(latest ? *latest : UINT64_MAX);  // UINT64_MAX: none
  const uint64_t step = wanted ? *wanted : *std::min_element(all.begin(), all.end());
  if (std::find(all.begin(), all.end(), UINT64_MAX) != all.end()) {
    return Status::Error("not every rank holds a snapshot in memory");
  }
  return LoadFrom("snapshot of step " + std::to_string(step), [&](const std::vector<NamedRange>& ranges) {
    for (const auto& r : ranges) {
      if (Status st = client.Restore(step, r.name, r.data, r.bytes); !st.ok()) return st;
    }
    return Status::Ok();
  });
}

Status Trainer::Reshard(int old_world, const std::vector<int>& mine, const ReadOldRank& read) {
  Status s = old_world >= 1 ? Status::Ok() : Status::Error("a saved world of " + std::to_string(old_world) + " ranks");
  const size_t old_padded = s.ok() ? PaddedCount(layout_count_, old_world) : 0;
  // Positions no rank fills hold -0.0: x + -0.0 is x for every x (+0.0 would turn a -0.0
  // weight into +0.0), so the sum across ranks is an exact copy.
  HugeVector<float> full_w(padded_count_, -0.0f), full_m(padded_count_, -0.0f), full_v(padded_count_, -0.0f);
  std::map<int, StateMeta> metas;
  for (int k : mine) {
    if (!s.ok()) break;
    if (k < 0 || k >= old_world || metas.count(k)) {
      s = Status::Error("old rank " + std::to_string(k) + " is outside a world of " + std::to_string(old_world) + " or listed twice");
      break;
    }
    const ShardRange old = ShardOf(old_padded, k, old_world);
    StateMeta meta;
    HugeVector<float> w(old.size()), m(old.size()), v(old.size());
    const size_t bytes = old.size() * sizeof(float);
    s = read(k, {{"meta", &meta, sizeof meta}, {"master_weights", w.data(), bytes}, {"adam_m", m.data(), bytes}, {"adam_v", v.data(), bytes}});
    if (s.ok() && (meta.fingerprint != meta_.fingerprint || meta.world_size != old_world || meta.rank != k)) {
      s = Status::Error("old rank " + std::to_string(k) + "'s state is of rank " + std::to_string(meta.rank) + " of " +
                        std::to_string(meta.world_size) + " with fingerprint " + Hex64(meta.fingerprint) +
                        "; expected rank " + std::to_string(k) + " of " + std::to_string(old_world) + " with " + Hex64(meta_.fingerprint));
    }
    if (!s.ok()) break;
    const size_t end = std::min(old.end, layout_count_);
    for (size_t i = old.begin; i < end; ++i) {
      full_w[i] = w[i - old.begin];
      full_m[i] = m[i - old.begin];
      full_v[i] = v[i - old.begin];
    }
    metas[k] = meta;
  }
  // Agree: each old rank read by exactly one rank, all at one step. Every rank makes the
  // same calls whatever it holds, so none waits on another that gave up.
  const auto failed = comm_.AllGatherU64(s.ok() ? 0 : 1);
  for (int r = 0; r < comm_.size(); ++r) {
    if (failed[r] && s.ok()) s = Status::Error("rank " + std::to_string(r) + " could not read its part of the old state");
  }
  if (!s.ok()) return s;
  std::vector<StateMeta> old_meta(static_cast<size_t>(old_world));
  for (int k = 0; k < old_world; ++k) {
    const auto it = metas.find(k);
    const auto holders = comm_.AllGatherU64(it != metas.end() ? 1 : 0);
    int holder = -1, count = 0;
    for (int r = 0; r < comm_.size(); ++r) {
      if (holders[r]) holder = r, ++count;
    }
    if (count != 1) return Status::Error("old rank " + std::to_string(k) + "'s state was read by " + std::to_string(count) + " ranks, not one");
    const StateMeta mine_meta = it != metas.end() ? it->second : StateMeta{};
    old_meta[k].step = static_cast<int64_t>(comm_.AllGatherU64(static_cast<uint64_t>(mine_meta.step))[holder]);
    old_meta[k].rng_state = comm_.AllGatherU64(mine_meta.rng_state)[holder];
    old_meta[k].data_cursor = comm_.AllGatherU64(mine_meta.data_cursor)[holder];
    if (old_meta[k].step != old_meta[0].step) {
      return Status::Error("old ranks saved different steps (rank 0: " + std::to_string(old_meta[0].step) + ", rank " +
                           std::to_string(k) + ": " + std::to_string(old_meta[k].step) + ")");
    }
  }

  comm_.ReduceScatterSum(full_w.data(), params_.data() + shard_.begin, shard_.size());
  comm_.ReduceScatterSum(full_m.data(), optimizer_.m().data(), shard_.size());
  comm_.ReduceScatterSum(full_v.data(), optimizer_.v().data(), shard_.size());
  for (size_t i = std::max(shard_.begin, layout_count_); i < shard_.end; ++i) {  // padding: as a fresh run has it
    params_[i] = 0;
    optimizer_.m()[i - shard_.begin] = 0;
    optimizer_.v()[i - shard_.begin] = 0;
  }
  meta_.step = old_meta[0].step;
  if (comm_.rank() < old_world) {
    const StateMeta& own = old_meta[static_cast<size_t>(comm_.rank())];
    loader_->set_state({own.rng_state, own.data_cursor});
  }
  comm_.AllGather(params_.data(), shard_.size());
  holds_state_ = true;
  return Status::Ok();
}

Status Trainer::LoadFrom(const std::string& path, const std::function<Status(const std::vector<NamedRange>&)>& read) {
  // A trainer that holds state reads into copies first: a state that fails any check must
  // leave it untouched. One that holds none yet (created to be restored) reads in place:
  // the copies are 3 x 106 MB more memory to fault in per rank on every recovery.
  const bool in_place = !holds_state_;
  const size_t staged = in_place ? 0 : shard_.size();
  StateMeta loaded_meta;
  HugeVector<float> weights(staged), m(staged), v(staged);
  const size_t shard_bytes = shard_.size() * sizeof(float);
  Status s = read({{"meta", &loaded_meta, sizeof loaded_meta},
                   {"master_weights", in_place ? params_.data() + shard_.begin : weights.data(), shard_bytes},
                   {"adam_m", in_place ? optimizer_.m().data() : m.data(), shard_bytes},
                   {"adam_v", in_place ? optimizer_.v().data() : v.data(), shard_bytes}});
  if (s.ok() && loaded_meta.fingerprint != meta_.fingerprint) {
    s = Status::Error(path + ": written by a run with config fingerprint " + Hex64(loaded_meta.fingerprint) +
                      ", this run's is " + Hex64(meta_.fingerprint) +
                      " (model, data, optim, micro_batch or init_seed differ)");
  } else if (s.ok() && loaded_meta.world_size != meta_.world_size) {
    s = Status::Error(path + ": written by a world of " + std::to_string(loaded_meta.world_size) +
                      " ranks; this run has " + std::to_string(meta_.world_size));
  } else if (s.ok() && loaded_meta.rank != meta_.rank) {
    s = Status::Error(path + ": holds rank " + std::to_string(loaded_meta.rank) + "'s state; this is rank " +
                      std::to_string(meta_.rank));
  }
  // Agree collectively before touching anything: every rank restores, or none does.
  const auto steps = comm_.AllGatherU64(s.ok() ? static_cast<uint64_t>(loaded_meta.step) : UINT64_MAX);
  for (int r = 0; s.ok() && r < comm_.size(); ++r) {
    if (steps[r] == UINT64_MAX) {
      s = Status::Error("rank " + std::to_string(r) + " could not load its state");
    } else if (steps[r] != static_cast<uint64_t>(loaded_meta.step)) {
      s = Status::Error("ranks hold states of different steps (rank 0: " + std::to_string(steps[0]) + ", rank " +
                        std::to_string(r) + ": " + std::to_string(steps[r]) + ")");
    }
  }
  if (!s.ok()) {
    if (in_place) {  // a fresh start after all: the moments must be zero again
      std::fill(optimizer_.m().begin(), optimizer_.m().end(), 0.f);
      std::fill(optimizer_.v().begin(), optimizer_.v().end(), 0.f);
    }
    return s;
  }

  meta_ = loaded_meta;
  if (!in_place) {
    std::copy(weights.begin(), weights.end(), params_.begin() + static_cast<ptrdiff_t>(shard_.begin));
    optimizer_.m() = std::move(m);
    optimizer_.v() = std::move(v);
  }
  holds_state_ = true;
  loader_->set_state({loaded_meta.rng_state, loaded_meta.data_cursor});
  comm_.AllGather(params_.data(), shard_.size());
  return Status::Ok();
}

}  // namespace bulwark::train
