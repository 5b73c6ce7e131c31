// What diagnosis concludes: a class, the culprit (ranks and the nodes they run on, or none
// when the fault lies between nodes), how sure it is, and the evidence an operator can check
// (ranks, sequence numbers, durations).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark::diagnostics {

enum class VerdictKind {
  kCrash,              // a rank process exited or its ring's writer vanished
  kNodeLost,           // the node's agent went silent
  kHang,               // a rank stuck: never entered the collective the others wait in, or stopped
  kCommunicationHang,  // every rank inside the same collective, none leaving, none stopped
  kStraggler,          // one rank persistently late: its compute is slow
  kImbalance,          // lateness that moves between ranks: reported, never a node fault
  kSlowCommunication,  // every collective slower with no rank late: the network, to be probed
  kTrainingAnomaly,    // the job's loss spiked or went NaN and it rolled back (told by the trainer)
};

const char* VerdictKindName(VerdictKind kind);

struct Verdict {
  VerdictKind kind = VerdictKind::kCrash;
  int64_t time_ms = 0;              // when the engine concluded it (the controller's clock)
  std::string comm;                 // the communicator it was seen on ("" for crashes and lost nodes)
  std::vector<int64_t> ranks;       // culprit world ranks
  std::vector<std::string> nodes;   // the nodes that run them; empty when no node is to blame
  double confidence = 0;            // 0..1
  std::string evidence;             // one line an operator can check
  nlohmann::json detail = nlohmann::json::object();  // the numbers behind it

  // Whether the verdict blames a node (and so may fence it): imbalance, slow communication
  // and a communication hang without a stopped rank do not.
  bool blames_node() const { return !nodes.empty() && kind != VerdictKind::kImbalance; }
};

nlohmann::json ToJson(const Verdict& v);

}  // namespace bulwark::diagnostics
