// Where a slow network is: the probe matrix. Every node of a job measured, over the agents'
// data-plane port, the round-trip latency and the bandwidth to every other one; cell
// (from, to) holds what `from` saw towards `to`. A pair is as good as its worse direction,
// and a node as good as its best pair: a slow NIC spoils every pair it is in. The
// reference is the median node's best pair, not the best cell: a lucky measurement under
// load made every other pair look slow once (and every NIC with them), and a median of
// pairs would take the slow value for normal when a slow NIC spoils most of them. A pair
// is slow when it has under `slow_fraction` of the reference bandwidth or over 1 /
// `slow_fraction` times its latency; a node whose best pair is slow has a slow NIC; the
// other slow pairs are slow links. Half the nodes or more slow names nobody: there is no
// normal to compare with. Two nodes have one pair and nothing to compare it with. Pure:
// measurements in, a finding out.
#pragma once

#include <string>
#include <vector>

namespace bulwark::diagnostics {

struct LinkProbe {
  std::string from, to;
  double latency_us = 0;  // median round trip of a small frame
  double mbps = 0;        // megabytes per second of a bulk transfer
};

struct LinkFinding {
  enum class Kind { kNone, kSlowNic, kSlowLink, kIncomplete };
  Kind kind = Kind::kNone;
  std::vector<std::string> nodes;                            // slow NICs
  std::vector<std::pair<std::string, std::string>> links;  // slow links (sorted pair)
  double best_latency_us = 0, best_mbps = 0;
  std::string evidence;
};

const char* LinkFindingKindName(LinkFinding::Kind kind);

// `nodes`: every node that was asked; a pair with no measurement in either direction makes
// the finding incomplete (a node that could not be reached is named in the evidence).
LinkFinding ClassifyLinks(const std::vector<std::string>& nodes, const std::vector<LinkProbe>& probes,
                          double slow_fraction = 0.5);

}  // namespace bulwark::diagnostics
