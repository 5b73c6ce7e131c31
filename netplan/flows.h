// The flows a collective puts on the fabric, NIC to NIC, from a job's placement. A Phase is
// the set of flows that run at the same time (one ring's steps pipeline over the whole
// collective; halving-doubling's steps follow one another, each a phase of its own). Every
// flow of a phase carries the same bytes, as in NCCL's rings and trees, so a phase is
// planned on its own and the collective waits for its slowest flow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "netplan/topology.h"

namespace bulwark::netplan {

struct Flow {
  int src_nic = 0, dst_nic = 0;
  int channel = 0;
  double bytes = 0;
};

struct Phase {
  std::string name;
  std::vector<Flow> flows;
};

enum class CollectiveKind { kAllReduceRing, kReduceScatterRing, kAllGatherRing, kAllReduceTree, kHalvingDoubling, kAllToAll, kPipeline };

struct Collective {
  CollectiveKind kind = CollectiveKind::kAllReduceRing;
  double bytes = 1 << 30;     // the buffer each rank contributes
  int channels_per_nic = 2;   // NCCL's channels on each NIC (rings, trees)
  int stages = 1;             // pipeline stages (kPipeline): hosts split into this many, in order
};

// Collective kinds by name: allreduce, reduce-scatter, allgather, allreduce-tree,
// halving-doubling, all-to-all, pipeline.
Result<CollectiveKind> CollectiveKindFromName(const std::string& name);

// `placement`: the hosts of the job, in rank order (a host's GPU r uses its rail-r NIC, as
// NCCL on rail-optimized clusters does). Inter-host traffic only: NVLink carries the rest.
std::vector<Phase> CollectiveFlows(const Topology& topology, const std::vector<int>& placement, const Collective& c);

}  // namespace bulwark::netplan
