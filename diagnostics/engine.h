// The diagnosis engine: what the controller hears from agents in, verdicts out. Pure and
// deterministic: every input carries the controller's clock reading, so a recorded stream
// of inputs (trace.h) replays to the same verdicts.
//
// Inputs: telemetry batches (per rank and communicator: sequence numbers, time inside the
// current call, per-call timings, process state), ranks gone (a process exit or a ring whose
// writer vanished), nodes lost (heartbeats stopped), and ticks.
//
// - Crash: the first rank gone is the culprit; ranks that go within `crash_settle_ms` after
//   it are gathered (the launcher tearing the job down) and the earliest by the agents' own
//   event times wins; ranks gone within `crash_quiet_ms` after a verdict are its echo, and
//   so are the ranks of a communicator that hangs (or hung that recently) going away: a
//   hung job being torn down.
// - Hang: per communicator, hang.h on each rank's state extrapolated to now; a stopped (T)
//   or uninterruptible (D) rank inside an otherwise communication hang is the culprit. A
//   communicator's first `warmup_collectives` wait `warmup_hang_ms` instead: a job's first
//   steps (and a restore's) set up connections, fault in the model's memory and fetch
//   snapshot fragments, and a rank slow there is not hung (as NCCL's and PyTorch's longer
//   init timeouts say too). A false hang at start-up would fence a healthy node.
// - Lateness: per communicator, the timings of each sequence number are gathered from every
//   member and fed to lateness.h; a straggler needs `min_slowdown_percent`, imbalance needs
//   the others to have lost `imbalance_min_lost_fraction` of their compute time waiting
//   (less costs the job little and is reported as nothing).
// - Slow communication: per communicator, transfer.h; a verdict that blames no node and
//   names the job's nodes, for the controller to probe the links between them.
// A rank whose process id changes restarted: its communicator's history starts over.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/telemetry.h"
#include "diagnostics/lateness.h"
#include "diagnostics/transfer.h"
#include "diagnostics/verdict.h"

namespace bulwark::diagnostics {

struct EngineOptions {
  int64_t hang_ms = 30000;          // far below NCCL's and PyTorch's watchdogs (minutes)
  int64_t warmup_hang_ms = 120000;  // the threshold for a communicator's first collectives
  uint64_t warmup_collectives = 64; // sequence numbers 1..this are warm-up
  int64_t crash_settle_ms = 500;
  int64_t crash_quiet_ms = 10000;
  LatenessOptions lateness;
  TransferOptions transfer;
  double min_slowdown_percent = 10;
  double imbalance_min_lost_fraction = 0.1;
  size_t pending_seqs = 256;        // sequence numbers awaiting their other ranks, per communicator
  int64_t forget_after_ms = 600000; // a communicator silent this long belongs to a past job
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {}) : options_(options) {}

  void Telemetry(const std::string& node, const TelemetryBatch& batch, int64_t now_ms);
  // `event_ms`: when the agent saw it (its clock), used only to order ranks gone together.
  void RankGone(const std::string& node, int64_t rank, int64_t pid, const std::string& why, int64_t event_ms,
                int64_t now_ms);
  void NodeLost(const std::string& node, const std::string& why, int64_t now_ms);
  // A job was launched again after a recovery: the teardown is over, so ranks going from
  // now on are new faults, not the echo of the last verdict.
  void Relaunched(int64_t now_ms);
  // The verdicts reached since the last tick.
  std::vector<Verdict> Tick(int64_t now_ms);
  // For operators (the dashboard's heat map): per live communicator, its ranks and nodes,
  // the newest collectives every member reported and each rank's lateness in them (how much
  // later than the first it arrived, µs: the longest time inside minus its own), and per
  // rank a straggler score (the share of those collectives it arrived last in while the
  // others waited at least the lateness detector's min_wait_us).
  nlohmann::json LatenessJson() const;

  const EngineOptions& options() const { return options_; }

 private:
  struct RankView {
    std::string node;
    int64_t pid = 0;
    std::string state;
    uint64_t begun = 0, done = 0;
    double in_call_us = 0;
    int64_t seen_ms = 0;
    bool gone = false;
  };
  struct Comm {
    std::map<int64_t, RankView> ranks;  // by world rank
    std::map<uint64_t, std::map<int64_t, CommStats::Timing>> pending;  // seq -> world rank -> timing
    uint64_t newest_seq = 0;
    LatenessDetector lateness;
    TransferTracker transfer;
    bool slow_reported = false;
    bool fresh_timings = false;
    bool hang_reported = false;
    uint64_t hang_seq = 0;
    std::optional<int64_t> hang_verdict_ms;  // the latest hang verdict, for its echo
    bool imbalance_reported = false;
    struct Lateness {
      uint64_t seq = 0;
      std::map<int64_t, double> us;  // by world rank
    };
    std::deque<Lateness> recent_lateness;  // the newest kRecentLateness collectives
  };
  static constexpr size_t kRecentLateness = 48;
  struct Gone {
    std::string node;
    int64_t rank = 0, pid = 0, event_ms = 0, now_ms = 0;
    std::string why;
  };

  void Reset(Comm& comm);
  void AddTimings(Comm& comm, int64_t rank, const std::vector<CommStats::Timing>& timings);
  void AssessCrashes(int64_t now_ms, std::vector<Verdict>* out);
  void AssessHang(const std::string& id, Comm& comm, int64_t now_ms, std::vector<Verdict>* out);
  void AssessLateness(const std::string& id, Comm& comm, int64_t now_ms, std::vector<Verdict>* out);

  EngineOptions options_;
  std::map<std::string, Comm> comms_;
  std::vector<Gone> gone_pending_;
  int64_t quiet_until_ms_ = INT64_MIN;
  std::vector<Verdict> ready_;                  // reached between ticks (lost nodes)
  std::set<std::pair<int64_t, int64_t>> stragglers_reported_;  // (rank, pid)
};

}  // namespace bulwark::diagnostics
