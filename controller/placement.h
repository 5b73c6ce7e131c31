// Where a job runs, pure: which free nodes a new job gets, and which node takes a fenced
// node's place during a recovery.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::controller {

// A node that could take work now: healthy, online, not drained, running no other job.
struct PlacementCandidate {
  std::string name;
  std::string domain;                  // failure domain (rack); "" when unknown
  std::vector<std::string> nic_types;  // "ib", "roce", "ethernet"
  bool spare = false;                  // kept for replacements
};

// Whether the node has a NIC of the class a job wants ("any" takes every node).
bool HasNicClass(const PlacementCandidate& node, const std::string& nic_class);

// `nodes` workers with the NIC class, packed into as few failure domains as possible (a
// job's collectives stay under few switches), in name order within a domain. Spares are
// not used: they wait for recoveries. The error says how many nodes qualify.
Result<std::vector<std::string>> PlaceJob(int nodes, const std::string& nic_class,
                                          const std::vector<PlacementCandidate>& free);

// The node that takes a fenced node's ranks: one with the NIC class, a spare before a free
// worker, and a failure domain other than the fenced node's (whatever took that node down
// may take its neighbours) and shared by the fewest of the job's other nodes (its snapshot
// parity is spread across domains). Ties by name. Nothing when no node qualifies.
std::optional<std::string> ChooseReplacement(const std::string& nic_class, const std::string& fenced_domain,
                                             const std::vector<std::string>& job_domains,
                                             const std::vector<PlacementCandidate>& free);

}  // namespace bulwark::controller
