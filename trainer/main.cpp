// bulwark-train: the embedded reference trainer.
//   mpirun -np 4 bulwark-train --config trainer/configs/tiny.yaml [--steps N]
// Rank 0 prints one JSON line per step on stdout; everything else goes to stderr.
#include <mpi.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <optional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/http_client.h"
#include "trainer/trainer.h"

namespace {

using namespace bulwark;
using namespace bulwark::train;

constexpr const char* kUsage =
    "usage: bulwark-train --config FILE [options]\n"
    "  --steps N          train until step N (default: train.steps from the config)\n"
    "  --state-dir DIR    where rank-<r>.state files are written (default: .)\n"
    "  --save-at K        save every rank's state after step K (repeatable; K = the step it\n"
    "                     resumes at: saved at once)\n"
    "  --save-every K     save every rank's state after each K-th step\n"
    "  --resume DIR       restore every rank's state from DIR/rank-<r>.state first; a state saved\n"
    "                     by another number of ranks is resharded (rank j goes on with old rank\n"
    "                     j's data; a shrunk job drops the rest)\n"
    "  --snapshot-every K snapshot every rank's state into shared memory after each K-th step\n"
    "  --restore-from-memory\n"
    "                     start from the newest snapshot every rank holds in memory, if all do\n"
    "  --loss-spike-factor F  a loss above F times the median of the last 20 steps is an anomaly\n"
    "                     (0, the default: only a NaN or infinite loss or gradient norm is)\n"
    "  --skip-batches LIST     never train on these data batches (comma-separated, 1-based)\n"
    "An anomalous step is not applied: the ranks roll back to the newest snapshot in memory,\n"
    "skip the batch, and rank 0 prints one {\"anomaly\":...} line on stdout.\n"
    "environment:\n"
    "  BULWARK_JOB_ID     names the job's snapshot memory (default 'train')\n"
    "  BULWARK_SNAPSHOT_PREFIX  the agent's shared-memory prefix (default 'bulwark')\n"
    "  BULWARK_AGENT_URL  the local agent: --restore-from-memory asks it first to bring the job's\n"
    "                     recovery point into local memory (rebuilt from peers if need be)\n"
    "  BULWARK_SNAPSHOT_EVERY  as --snapshot-every, when the flag is not given\n"
    "  BULWARK_RESTORE_STEP    restore exactly this step from memory (as --restore-from-memory);\n"
    "                     a controller's relaunch sets it to the job's recovery point\n"
    "  BULWARK_LOSS_SPIKE_FACTOR, BULWARK_SKIP_BATCHES  as the flags, when they are not given\n"
    "  BULWARK_RESHARD_WORLD, BULWARK_RESHARD_READS  with BULWARK_RESTORE_STEP: the step was taken by a\n"
    "                     world of that many ranks; each rank reads the old ranks listed for it\n"
    "                     ('0:0+3,1:1') and the state is resharded (a controller's shrink sets them)\n"
    "  BULWARK_FAULTS     fault points, e.g. 'crash:step=10:rank=1;slow:step=5:rank=0:percent=50;hang:step=7:rank=2'\n";

struct Options {
  std::string config_path;
  int64_t steps = -1;
  std::string state_dir = ".";
  std::set<int64_t> save_at;
  int64_t save_every = 0;
  std::string resume_dir;
  int64_t snapshot_every = 0;
  bool restore_from_memory = false;
  std::optional<uint64_t> restore_step;
  int reshard_world = 0;                       // BULWARK_RESHARD_WORLD: the snapshot's world (0: none)
  std::map<int, std::vector<int>> reshard_reads;  // BULWARK_RESHARD_READS: rank -> old ranks it reads
  double loss_spike_factor = -1;  // -1: not given
  std::vector<int64_t> skip_batches;
  bool skip_given = false;
};

bool ParseInt(const char* text, int64_t min, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min) return false;
  *out = v;
  return true;
}

// "3,17,18": batches >= 1.
bool ParseBatchList(const std::string& text, std::vector<int64_t>* out) {
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    int64_t b = 0;
    if (!ParseInt(item.c_str(), 1, &b)) return false;
    out->push_back(b);
  }
  return true;
}

// "0:0+3,1:1": rank 0 reads old ranks 0 and 3, rank 1 reads old rank 1.
bool ParseReshardReads(const std::string& text, std::map<int, std::vector<int>>* out) {
  std::stringstream entries(text);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    const size_t colon = entry.find(':');
    int64_t rank = 0, old = 0;
    if (colon == std::string::npos || !ParseInt(entry.substr(0, colon).c_str(), 0, &rank)) return false;
    std::stringstream olds(entry.substr(colon + 1));
    std::string item;
    while (std::getline(olds, item, '+')) {
      if (!ParseInt(item.c_str(), 0, &old)) return false;
      (*out)[static_cast<int>(rank)].push_back(static_cast<int>(old));
    }
  }
  return true;
}

bool ParseFactor(const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= 0) || v > 1e6) return false;
  *out = v;
  return true;
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    int64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      return Status::Error("");
    } else if (arg == "--config") {
      if (!(v = value())) return Status::Error("--config needs a file");
      o.config_path = v;
    } else if (arg == "--steps") {
      if (!(v = value()) || !ParseInt(v, 0, &n)) return Status::Error("--steps needs a whole number >= 0");
      o.steps = n;
    } else if (arg == "--state-dir") {
      if (!(v = value())) return Status::Error("--state-dir needs a directory");
      o.state_dir = v;
    } else if (arg == "--save-at") {
      if (!(v = value()) || !ParseInt(v, 1, &n)) return Status::Error("--save-at needs a step >= 1");
      o.save_at.insert(n);
    } else if (arg == "--save-every") {
      if (!(v = value()) || !ParseInt(v, 1, &n)) return Status::Error("--save-every needs a step count >= 1");
      o.save_every = n;
    } else if (arg == "--resume") {
      if (!(v = value())) return Status::Error("--resume needs a directory");
      o.resume_dir = v;
    } else if (arg == "--snapshot-every") {
      if (!(v = value()) || !ParseInt(v, 1, &n)) return Status::Error("--snapshot-every needs a step count >= 1");
      o.snapshot_every = n;
    } else if (arg == "--restore-from-memory") {
      o.restore_from_memory = true;
    } else if (arg == "--loss-spike-factor") {
      if (!(v = value()) || !ParseFactor(v, &o.loss_spike_factor)) return Status::Error("--loss-spike-factor needs a number >= 0");
    } else if (arg == "--skip-batches") {
      if (!(v = value()) || !ParseBatchList(v, &o.skip_batches)) {
        return Status::Error("--skip-batches needs batch numbers >= 1, comma-separated");
      }
      o.skip_given = true;
    } else {
      return Status::Error("unknown argument '" + arg + "'");
    }
  }
  if (o.config_path.empty()) return Status::Error("--config is required");
  // The environment contract of a controller's launch (controller/launch_command.h).
  int64_t n = 0;
  if (const char* every = std::getenv("BULWARK_SNAPSHOT_EVERY"); every && *every && o.snapshot_every == 0) {
    if (!ParseInt(every, 1, &n)) return Status::Error("BULWARK_SNAPSHOT_EVERY must be a step count >= 1, got '" + std::string(every) + "'");
    o.snapshot_every = n;
  }
  if (const char* f = std::getenv("BULWARK_LOSS_SPIKE_FACTOR"); f && *f && o.loss_spike_factor < 0) {
    if (!ParseFactor(f, &o.loss_spike_factor)) {
      return Status::Error("BULWARK_LOSS_SPIKE_FACTOR must be a number >= 0, got '" + std::string(f) + "'");
    }
  }
  if (const char* skip = std::getenv("BULWARK_SKIP_BATCHES"); skip && *skip && !o.skip_given) {
    if (!ParseBatchList(skip, &o.skip_batches)) {
      return Status::Error("BULWARK_SKIP_BATCHES must list batch numbers >= 1, comma-separated, got '" + std::string(skip) + "'");
    }
  }
  if (const char* world = std::getenv("BULWARK_RESHARD_WORLD"); world && *world) {
    const char* reads = std::getenv("BULWARK_RESHARD_READS");
    if (!ParseInt(world, 1, &n) || !ParseReshardReads(reads ? reads : "", &o.reshard_reads)) {
      return Status::Error("BULWARK_RESHARD_WORLD must be a rank count >= 1 and BULWARK_RESHARD_READS like '0:0+3,1:1', got '" +
                           std::string(world) + "' and '" + (reads ? reads : "") + "'");
    }
    o.reshard_world = static_cast<int>(n);
  }
  if (const char* step = std::getenv("BULWARK_RESTORE_STEP"); step && *step) {
    if (!ParseInt(step, 0, &n)) return Status::Error("BULWARK_RESTORE_STEP must be a step >= 0, got '" + std::string(step) + "'");
    o.restore_from_memory = true;
    o.restore_step = static_cast<uint64_t>(n);
  }
  return o;
}

Result<TrainConfig> LoadConfig(const Options& o) {
  auto config = LoadTrainConfigFile(o.config_path);
  if (!config.ok()) return config;
  if (o.steps >= 0) config->steps = o.steps;
  if (const char* spec = std::getenv("BULWARK_FAULTS")) {
    auto faults = ParseFaultSpec(spec);
    if (!faults.ok()) return faults.status();
    config->faults.insert(config->faults.end(), faults->begin(), faults->end());
  }
  return config;
}

std::string StatePath(const std::string& dir, int rank) { return dir + "/rank-" + std::to_string(rank) + ".state"; }

// The world size rank 0's saved state was written by (0 when it cannot be read: LoadState
// then names the problem).
int SavedWorld(const std::string& dir) {
  StateMeta meta;
  if (!ReadStateFileRange(StatePath(dir, 0), {"meta", &meta, sizeof meta}).ok()) return 0;
  return meta.world_size;
}

// POST {agent}/v1/snapshots/restore; the agent answers once the rank's slot of the job's
// recovery point is in local memory, or says why it cannot be (never with wrong bytes).
Status AskAgentToRestore(const std::string& agent_url, const std::string& job, int rank, std::optional<uint64_t> step) {
  http::Client client(agent_url, "", 300000);
  nlohmann::json request = {{"job", job}, {"rank", rank}};
  if (step) request["step"] = *step;
  auto r = client.Send("POST", "/v1/snapshots/restore", request.dump());
  if (!r.ok()) return Status::Error("cannot reach the agent at " + agent_url + ": " + r.status().message());
  const auto body = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    return Status::Error("the agent cannot restore: " + (body.is_object() ? body.value("error", r->body) : r->body));
  }
  if (rank == 0 || body.value("source", "") == "peers") {
    std::fprintf(stderr, "bulwark-train: rank %d: the agent holds step %s from %s\n", rank, body.value("step", nlohmann::json()).dump().c_str(),
                 body.value("source", std::string("?")).c_str());
  }
  return Status::Ok();
}

// Every rank learns whether all ranks succeeded, so no rank waits forever on one that quit.
bool AllOk(const Status& s, Comm& comm) {
  for (uint64_t bad : comm.AllGatherU64(s.ok() ? 0 : 1))
    if (bad) return false;
  return true;
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Collective: this rank reads the old ranks the controller gave it (their state at the
// restore step, each asked of the agent first, which rebuilds from peers what this node
// does not hold), the ranks put the state together, and the old ranks' memory is freed.
Status ReshardFromMemory(Trainer& trainer, Comm& comm, const Options& opt, const std::string& prefix,
                         const std::string& job, const char* agent) {
  std::vector<int> mine;
  if (auto it = opt.reshard_reads.find(comm.rank()); it != opt.reshard_reads.end()) mine = it->second;
  std::map<int, std::unique_ptr<snapshot::SnapshotClient>> old;
  Status s = opt.restore_step ? Status::Ok() : Status::Error("a reshard needs BULWARK_RESTORE_STEP");
  for (int k : mine) {
    if (!s.ok()) break;
    if (agent && *agent) s = AskAgentToRestore(agent, job, k, opt.restore_step);
    if (!s.ok()) break;
    auto opened = snapshot::SnapshotClient::Open(prefix, job, k, opt.reshard_world);
    if (!opened.ok()) s = opened.status();
    else old[k] = std::move(opened).value();
  }
  if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: %s\n", comm.rank(), s.message().c_str());
  const uint64_t step = opt.restore_step.value_or(0);
  // Reshard is collective: every rank calls it, and one that could not read fails it for all.
  Status r = trainer.Reshard(opt.reshard_world, mine, [&](int k, const std::vector<NamedRange>& ranges) {
    if (!s.ok()) return s;  // told to every rank by Reshard
    for (const auto& range : ranges) {
      if (Status st = old[k]->Restore(step, range.name, range.data, range.bytes); !st.ok()) return st;
    }
    return Status::Ok();
  });
  if (r.ok()) {
    for (auto& [k, client] : old) {
      client.reset();
      snapshot::SnapshotClient::Remove(prefix, job, k);
    }
  }
  AllOk(r, comm);  // every rank is done with the old memory before any opens its new one
  return r;
}

int Run(int argc, char** argv, MpiComm& comm) {
  const bool leader = comm.rank() == 0;
  auto options = ParseArgs(argc, argv);
  if (!options.ok()) {
    if (leader) std::fprintf(stderr, "%s%s%s", options.status().message().c_str(),
                             options.status().message().empty() ? "" : "\n", kUsage);
    return 2;
  }
  auto config = LoadConfig(options.value());
  if (!config.ok()) {
    if (leader) std::fprintf(stderr, "bulwark-train: %s\n", config.status().message().c_str());
    return 2;
  }
  // A restore (from memory or files) overwrites every weight: they are drawn only without
  // one, or when the one from memory fails (a failed --resume exits).
  const bool restoring = options->restore_from_memory || !options->resume_dir.empty();
  auto created = Trainer::Create(config.value(), comm, /*initialize=*/!restoring);
  Status s = created.ok() ? Status::Ok() : created.status();
  if (!AllOk(s, comm)) {
    if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: %s\n", comm.rank(), s.message().c_str());
    return 2;
  }
  Trainer& trainer = *created.value();
  const Options& opt = options.value();
  AnomalyPolicy policy;
  policy.spike_factor = std::max(0.0, opt.loss_spike_factor);
  trainer.set_anomaly_policy(policy);
  trainer.SkipBatches(opt.skip_batches);
  const int64_t total_steps = config->steps;

  const std::string job_id = EnvOr("BULWARK_JOB_ID", "train"), prefix = EnvOr("BULWARK_SNAPSHOT_PREFIX", "bulwark");
  const char* agent = std::getenv("BULWARK_AGENT_URL");
  // After a shrink the snapshot to restore was taken by another world: its ranks' state is
  // read and put together before this world's own snapshot memory is opened (opening it
  // would claim an old rank's memory of the same number for the new world).
  const bool resharding = opt.restore_from_memory && opt.reshard_world > 0;
  if (resharding) {
    s = ReshardFromMemory(trainer, comm, opt, prefix, job_id, agent);
    if (!s.ok()) trainer.InitializeWeights();  // every rank agrees: starting from scratch
    if (leader) {
      if (s.ok()) {
        std::fprintf(stderr, "bulwark-train: restored step %" PRId64 " from memory, resharded from %d ranks to %d\n",
                     trainer.step(), opt.reshard_world, comm.size());
      } else {
        std::fprintf(stderr, "bulwark-train: nothing restored from memory (%s); starting at step %" PRId64 "\n",
                     s.message().c_str(), trainer.step());
      }
    }
  }
  std::unique_ptr<snapshot::SnapshotClient> snapshots;
  if (opt.snapshot_every > 0 || opt.restore_from_memory) {
    auto opened = snapshot::SnapshotClient::Open(prefix, job_id, comm.rank(), comm.size());
    s = opened.ok() ? Status::Ok() : opened.status();
    if (!AllOk(s, comm)) {
      if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: snapshots: %s\n", comm.rank(), s.message().c_str());
      return 3;
    }
    snapshots = std::move(opened).value();
    // Starting fresh (a first launch, a relaunch with nothing protected yet, or a world that
    // has just been resharded): versions a previous attempt left in this memory are not this
    // run's, and would make its first commits look older than what the job already held.
    if (!opt.restore_from_memory || resharding) snapshots->Discard();
  }
  if (opt.restore_from_memory && !resharding) {
    // Under an agent, each rank first asks it to make the job's recovery point present in
    // local memory (rebuilt from peers' fragments if this node is new or lost it).
    if (agent && *agent) {
      Status asked = AskAgentToRestore(agent, job_id, comm.rank(), opt.restore_step);
      if (!asked.ok()) std::fprintf(stderr, "bulwark-train: rank %d: %s\n", comm.rank(), asked.message().c_str());
    }
    // Collective, and all-or-nothing: without a snapshot on every rank the job starts fresh.
    s = trainer.RestoreSnapshot(*snapshots, opt.restore_step);
    if (s.ok()) s = snapshots->RollBackTo(static_cast<uint64_t>(trainer.step()));
    if (!s.ok()) {  // starting over (every rank agrees): old versions are not this run's
      snapshots->Discard();
      trainer.InitializeWeights();
    }
    if (leader) {
      if (s.ok()) {
        std::fprintf(stderr, "bulwark-train: restored step %" PRId64 " from memory\n", trainer.step());
      } else {
        std::fprintf(stderr, "bulwark-train: nothing restored from memory (%s); starting at step %" PRId64 "\n",
                     s.message().c_str(), trainer.step());
      }
    }
  }
  if (!opt.resume_dir.empty()) {
    // Saved by another world size (a shrunk or grown job): old rank k is read by rank k mod N.
    const int saved_world = SavedWorld(opt.resume_dir);
    if (saved_world > 0 && saved_world != comm.size()) {
      std::vector<int> mine;
      for (int k = comm.rank(); k < saved_world; k += comm.size()) mine.push_back(k);
      s = trainer.Reshard(saved_world, mine, [&](int k, const std::vector<NamedRange>& ranges) {
        return ReadStateFile(StatePath(opt.resume_dir, k), ranges);
      });
      if (!s.ok()) {
        std::fprintf(stderr, "bulwark-train: rank %d: cannot resume: %s\n", comm.rank(), s.message().c_str());
        return 3;
      }
      if (leader) {
        std::fprintf(stderr, "bulwark-train: resumed from step %" PRId64 " in %s, resharded from %d ranks to %d (digest %s)\n",
                     trainer.step(), opt.resume_dir.c_str(), saved_world, comm.size(), Hex64(trainer.ParameterDigest()).c_str());
      }
    } else {
      s = trainer.LoadState(StatePath(opt.resume_dir, comm.rank()));
      if (!s.ok()) {
        std::fprintf(stderr, "bulwark-train: rank %d: cannot resume: %s\n", comm.rank(), s.message().c_str());
        return 3;
      }
      if (leader) std::fprintf(stderr, "bulwark-train: resumed from step %" PRId64 " in %s\n", trainer.step(), opt.resume_dir.c_str());
    }
  }

  const double tokens_per_step = static_cast<double>(config->micro_batch) * config->model.seq_len * comm.size();
  if (leader) {
    std::fprintf(stderr,
                 "bulwark-train: %zu parameters, %d ranks, %.0f tokens/step, config fingerprint %s, steps %" PRId64
                 " -> %" PRId64 "\n",
                 trainer.parameter_count(), comm.size(), tokens_per_step, Hex64(config->Fingerprint()).c_str(),
                 trainer.step(), total_steps);
  }

  // Asked to save the step it starts at (after a resume or a reshard): save it now.
  if (opt.save_at.count(trainer.step())) {
    s = trainer.SaveState(StatePath(opt.state_dir, comm.rank()));
    if (!AllOk(s, comm)) {
      if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: %s\n", comm.rank(), s.message().c_str());
      return 3;
    }
    if (leader) std::fprintf(stderr, "bulwark-train: saved state at step %" PRId64 " in %s\n", trainer.step(), opt.state_dir.c_str());
  }

  std::vector<double> step_ms;
  while (trainer.step() < total_steps) {
    StepReport r = trainer.Step();
    if (r.anomaly) {
      const Trainer::Rollback back = trainer.RollBack(r, snapshots.get());
      if (leader) {
        const nlohmann::json line = {{"anomaly", r.anomaly->kind},       {"step", r.step},
                                     {"batch", r.batch},                 {"loss", r.anomaly->loss},
                                     {"grad_norm", r.anomaly->grad_norm}, {"median_loss", r.anomaly->median_loss},
                                     {"rolled_back_to", back.to_step},   {"from", back.from_snapshot ? "snapshot" : "memory"},
                                     {"skipped_batches", back.skipped}};
        std::printf("%s\n", line.dump().c_str());  // a NaN is written as null
        std::fflush(stdout);
      }
      continue;
    }
    step_ms.push_back(r.step_ms);
    if (leader) {
      std::printf("{\"step\":%" PRId64 ",\"loss\":%.6f,\"grad_norm\":%.6f,\"digest\":\"%s\",\"step_ms\":%.3f,"
                  "\"tokens_per_s\":%.1f}\n",
                  r.step, r.loss, r.grad_norm, Hex64(r.digest).c_str(), r.step_ms,
                  tokens_per_step / (r.step_ms / 1000.0));
      std::fflush(stdout);
    }
    const bool save = opt.save_at.count(r.step) || (opt.save_every > 0 && r.step % opt.save_every == 0);
    if (save) {
      s = trainer.SaveState(StatePath(opt.state_dir, comm.rank()));
      if (!AllOk(s, comm)) {
        if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: %s\n", comm.rank(), s.message().c_str());
        return 3;
      }
      if (leader) std::fprintf(stderr, "bulwark-train: saved state at step %" PRId64 " in %s\n", r.step, opt.state_dir.c_str());
    }
    if (opt.snapshot_every > 0 && r.step % opt.snapshot_every == 0) {
      // A snapshot that cannot be taken (over budget, not released in time) is insurance
      // missed, not a reason to stop training: the older versions are kept.
      s = trainer.SnapshotState(*snapshots);
      if (!s.ok()) std::fprintf(stderr, "bulwark-train: rank %d: snapshot: %s\n", comm.rank(), s.message().c_str());
    }
  }
  if (leader && !step_ms.empty()) {
    std::sort(step_ms.begin(), step_ms.end());
    const double median = step_ms[step_ms.size() / 2];
    std::fprintf(stderr, "bulwark-train: done at step %" PRId64 ", median step %.3f ms, %.1f tokens/s\n", trainer.step(),
                 median, tokens_per_step / (median / 1000.0));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 0;
  {
    MpiComm comm;
    rc = Run(argc, argv, comm);
  }
  MPI_Finalize();
  return rc;
}
