// The agent's snapshot store. It watches the snapshot memory its node's ranks commit into
// (/dev/shm/<prefix>.<job>.r<rank>.*), and for each job:
// - reports the ranks it holds and the steps it has protected to the controller, which
//   answers with the job's protection plan and recovery point;
// - reports the steps every local rank holds; the controller names the step every member
//   holds (a group codes the same step of all its members). For that step it checksums each
//   slot (off the trainer's stall) and streams coefficient × its node shard to each of its
//   group's m parity holders over the data plane; the step is protected when all m holders
//   sealed their parity block;
// - follows the job's global recovery point and releases older slots to the trainers;
// - holds the parity blocks other members send it (ParityStore), under a memory budget;
// - restores: a rank's step from local memory, or its whole node shard rebuilt from k
//   fragments fetched from peers, each checked before use and the result checked against the
//   shard's CRC, then installed as the ranks' committed slots.
#pragma once

#include <nlohmann/json.hpp>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/metric_families.h"
#include "common/status.h"
#include "snapshot/data_plane.h"
#include "snapshot/parity_store.h"
#include "snapshot/rank_slots.h"

namespace bulwark::agent {

struct SnapshotOptions {
  std::string node, domain;
  std::string prefix;  // shared-memory prefix of this node's ranks and parity
  std::string controller_url, token;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;
  uint64_t budget_bytes = 0;  // parity held for peers; 0: no cap
  size_t chunk_bytes = 4 << 20;
  int64_t poll_ms = 2;    // how often known ranks' commits are looked at
  int64_t scan_ms = 100;  // how often shared memory is listed for new or removed ranks
  int64_t timeout_ms = 60000;
};

class SnapshotService {
 public:
  static Result<std::unique_ptr<SnapshotService>> Start(SnapshotOptions options, std::function<void(const std::string&)> log);
  ~SnapshotService();

  // The protection loop and the recovery-point follower; return when *stop turns true.
  void Run(const std::atomic<bool>* stop);
  // Makes `rank`'s slot of the job's recovery point present and verified in local memory,
  // rebuilding from peers when needed. Blocking (network).
  // `step`: the one the controller's relaunch named; default the job's recovery point.
  Result<nlohmann::json> Restore(const std::string& job, int rank, std::optional<uint64_t> step = std::nullopt);

  std::string data_address() const;
  nlohmann::json StatusJson() const;
  MetricFamilies Metrics() const;

 private:
  struct JobState {
    std::map<int, std::unique_ptr<snapshot::RankSlots>> ranks;
    nlohmann::json view = nlohmann::json::object();  // the controller's last answer: plan, members, recovery point (none yet: empty)
    std::vector<uint64_t> protected_steps;
    std::vector<uint64_t> held_steps, reported_held;  // steps every local rank holds
    std::optional<uint64_t> attempted;  // last step protection was tried for
    int64_t retry_at_ms = 0;
    std::optional<uint64_t> released;
    uint64_t epoch = 0;  // of the controller's view, for its long-poll
    bool managed = false;
  };

  explicit SnapshotService(SnapshotOptions options, std::function<void(const std::string&)> log);
  // Lists shared memory for ranks that appeared or went (`list`), then reads every known
  // rank's slots. Listing is a readdir of /dev/shm, too costly for every poll.
  void ScanRanks(bool list);
  bool HasRanks() const;
  void ReportToController(bool force);
  void ProtectReady();
  Status Protect(const std::string& job, JobState& state, uint64_t step);
  // Whether the job's newest plan still asks this node to protect `step` (takes the lock).
  bool StillWanted(const std::string& job, uint64_t step) const;
  void FollowRecoveryPoints(const std::atomic<bool>* stop);
  // Releases the recovery point to the local ranks and abandons what the view says to.
  void ApplyView(JobState& state);
  Status ServeLocalBlock(const snapshot::ChunkKey& key,
                         const std::function<Status(const snapshot::FragmentHeader&, const snapshot::NodeShard&)>& send);
  Result<nlohmann::json> Rebuild(const std::string& job, const nlohmann::json& view, int rank, uint64_t step);
  // *unreachable (if given): the controller did not answer at all (it may be restarting).
  Result<nlohmann::json> FetchView(const std::string& job, uint64_t after, int64_t wait_ms, bool* unreachable = nullptr) const;

  SnapshotOptions options_;
  std::function<void(const std::string&)> log_;
  snapshot::ParityStore parity_;
  std::unique_ptr<snapshot::DataPlaneServer> server_;
  mutable std::mutex mutex_;  // jobs_
  std::map<std::string, JobState> jobs_;
  std::mutex restore_mutex_;
  int64_t last_report_ms_ = 0;
  bool report_due_ = true;
  // Time to protect a step (erasure-code and send it), and a rebuild from peers: histograms.
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Histogram& protect_seconds_;
  prometheus::Histogram& rebuild_seconds_;
  std::atomic<uint64_t> bytes_rebuilt_{0};
  std::atomic<uint64_t> steps_protected_{0}, protect_failures_{0}, restores_local_{0}, restores_peers_{0},
      restore_failures_{0}, fragments_rejected_{0};
};

}  // namespace bulwark::agent
