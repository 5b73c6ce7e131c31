// What the agent makes of its ranks' collective calls: per (process, communicator) rolling
// statistics, the recent per-call timings diagnosis compares across ranks, the call each
// rank is inside now, and local hangs. Pure: fed events and clock readings, no I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/event_ring.h"
#include "common/telemetry.h"

namespace bulwark::agent {

struct CallTiming {
  uint64_t seq = 0;
  ring::Op op = ring::Op::kUnknown;
  uint64_t bytes = 0;
  int64_t enter_ns = 0, exit_ns = 0;  // CLOCK_MONOTONIC of this node
};

struct CommRankStats {
  int world_rank = -1;
  int comm_rank = -1;
  ring::Op last_op = ring::Op::kUnknown;
  uint64_t calls = 0, bytes = 0;      // completed, since the rank started
  int64_t last_seq_entered = -1;      // highest sequence number begun
  int64_t last_seq_completed = -1;    // highest sequence number finished
  std::deque<int64_t> durations_ns;   // the most recent completed calls (rolling window)
  std::deque<CallTiming> recent;      // the most recent calls, for diagnosis
  uint64_t shipped = 0;               // completed calls whose timings went out in a batch
};

struct LocalHang {
  pid_t pid = 0;
  int world_rank = -1;
  uint64_t comm_id = 0;
  uint64_t seq = 0;
  ring::Op op = ring::Op::kUnknown;
  int64_t inside_ms = 0;
};

class CollectiveStats {
 public:
  struct Limits {
    size_t window = 512;  // durations kept per (rank, communicator) for percentiles
    size_t recent = 256;  // per-call timings kept per (rank, communicator)
  };
  CollectiveStats() : CollectiveStats(Limits{}) {}
  explicit CollectiveStats(Limits limits) : limits_(limits) {}

  void Add(pid_t pid, int world_rank, const ring::Event* events, size_t count);
  // The call the process is inside now (op kUnknown: none), as read from its ring.
  void SetInFlight(pid_t pid, const ring::InFlight& call);
  // A process whose ring closed: its final statistics stay for one more summary, so the
  // controller learns how a short job ended; PruneGone drops them after that.
  void MarkGone(pid_t pid);
  void PruneGone();
  void Forget(pid_t pid);

  // Processes inside one call for longer than `threshold_ns`, each call reported once.
  std::vector<LocalHang> NewHangs(int64_t now_ns, int64_t threshold_ns);
  // One telemetry batch: per rank, per communicator, the rolling statistics now; with
  // `timings`, also each call completed since the last MarkShipped (at most `recent`).
  TelemetryBatch Summarize(int64_t wall_ms, int64_t now_ns, bool timings = false) const;
  // The timings of every completed call went out: the next batch starts after them.
  void MarkShipped();
  // The recent per-call timings of every (rank, communicator), for diagnosis and status.
  nlohmann::json RecentJson(size_t per_comm) const;

  size_t processes() const { return procs_.size(); }
  const CommRankStats* Find(pid_t pid, uint64_t comm_id) const;

 private:
  struct Process {
    int world_rank = -1;
    std::map<uint64_t, CommRankStats> comms;  // by communicator id
    ring::InFlight in_flight;
    bool gone = false;
    uint64_t hang_reported_seq = UINT64_MAX;
    uint64_t hang_reported_comm = 0;
  };
  Limits limits_;
  std::map<pid_t, Process> procs_;
};

// Communicator ids on the wire: 16 hex digits.
std::string CommIdText(uint64_t id);

}  // namespace bulwark::agent
