// Where a job runs, pure: which free nodes a new job gets, and which node takes a fenced
// node's place during a recovery.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/job.h"
#include "netplan/iteration_model.h"
#include "netplan/placement.h"

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
// With `modelled_s` (a job with a model), only the candidates whose modelled iteration time
// is within 1% of the best one's are considered: the NIC first, then the rules above.
std::optional<std::string> ChooseReplacement(const std::string& nic_class, const std::string& fenced_domain,
                                             const std::vector<std::string>& job_domains,
                                             const std::vector<PlacementCandidate>& free,
                                             const std::function<double(const PlacementCandidate&)>& modelled_s = {});

// The NIC class a node's collectives use: its fastest (ib, then roce, then ethernet, which
// every node is taken to have).
std::string FastestNicClass(const std::vector<std::string>& nic_types);

// The model of a job's transformer on `nodes` (names and their NIC classes, in rank-block
// order); tensor parallelism is the ranks of a node.
netplan::PlacementProblem ModelProblem(const JobSpec& spec, const netplan::NicFabric& fabric,
                                       const std::vector<std::pair<std::string, std::string>>& nodes);

// A job with a model placed by NIC (netplan::PlaceNicAware) over the free workers with its
// NIC class: the nodes in rank-block order, the layers per stage, and the modelled
// iteration time beside rank order's over the same candidates.
struct ModelPlacement {
  std::vector<std::string> nodes;
  std::vector<int> stage_layers;
  double iteration_s = 0, rank_order_s = 0;
};
Result<ModelPlacement> PlaceModelJob(const JobSpec& spec, const netplan::NicFabric& fabric,
                                     const std::vector<PlacementCandidate>& free);

// The modelled iteration time of a job on `placement` (rank-block order) with its layer split.
double ModelledIteration(const JobSpec& spec, const netplan::NicFabric& fabric,
                         const std::vector<std::pair<std::string, std::string>>& placement,
                         const std::vector<int>& stage_layers);

}  // namespace bulwark::controller
