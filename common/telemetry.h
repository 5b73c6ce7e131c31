// Telemetry as agents ship it to the controller: per rank, per communicator, the collective
// statistics of one interval. The wire form is JSON:
//   {"batches":[{"time_ms":T,"ranks":[{"rank":R,"pid":P,"comms":[{"comm":"...","op":"...",
//     "calls":N,"bytes":B,"mean_us":M,"max_us":X,"p50_us":P,"p99_us":Q,"last_seq":S,
//     "last_seq_done":D,"in_call_us":I,"comm_rank":C,"timings":[seq,in_us,compute_us,...]}],
//     "state":"R"}]}]}
// `timings` holds the calls completed since the previous batch, three numbers each: the
// sequence number, the time inside the call and the compute time before it (from leaving
// the previous call on the same communicator), both on the rank's own clock. Diagnosis
// compares them across ranks per sequence number. `state` is the process state from
// /proc (R, S, D, T, ...): a stopped or uninterruptible rank explains a hang.
// It is the controller's busiest input (every node, every few seconds, kilobytes each), so it
// is read by a streaming parser straight into these structs: no JSON tree is built and freed
// per request. The reading is as strict as StrictJson and its errors name the same paths
// ("batches[0].ranks[2].comms[1].calls: must be an integer, got string").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark {

struct CommStats {
  std::string comm;  // communicator id, agreed by all its members
  std::string op;    // the latest call's kind: allreduce, allgather, ...
  int64_t calls = 0;  // completed, since the rank started
  int64_t bytes = 0;
  // Over the rank's most recent calls on this communicator (a rolling window).
  double mean_us = 0;
  double max_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  int64_t last_seq = 0;       // highest sequence number begun
  int64_t last_seq_done = 0;  // highest sequence number finished
  double in_call_us = 0;      // time inside the current call; 0 when not in one
  int64_t comm_rank = -1;     // the rank's index in the communicator (-1: not said)
  struct Timing {
    uint64_t seq = 0;
    double in_call_us = 0;
    double compute_us = 0;  // 0: unknown (the first call on the communicator)
  };
  std::vector<Timing> timings;  // calls completed since the previous batch
};

struct RankTelemetry {
  int64_t rank = 0;
  int64_t pid = 0;
  std::string state;  // process state letter from /proc; empty: not known
  std::vector<CommStats> comms;
};

struct TelemetryBatch {
  int64_t time_ms = 0;
  std::vector<RankTelemetry> ranks;
};

// Parses a telemetry body; throws JsonError (see strict_json.h) naming the offending field.
std::vector<TelemetryBatch> ParseTelemetry(const std::string& body);

nlohmann::json ToJson(const TelemetryBatch& batch);
std::string TelemetryBody(const std::vector<TelemetryBatch>& batches);

}  // namespace bulwark
