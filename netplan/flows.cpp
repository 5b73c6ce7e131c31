#include "netplan/flows.h"

#include <algorithm>

namespace bulwark::netplan {
namespace {

// NIC `rail` of a host (wrapping when a host has fewer NICs than the first host).
int NicOf(const Topology& t, int host, int rail) {
  const auto& nics = t.host_nics[host];
  return nics[rail % nics.size()];
}

int Rails(const Topology& t, const std::vector<int>& placement) {
  size_t rails = SIZE_MAX;
  for (int h : placement) rails = std::min(rails, t.host_nics[h].size());
  return static_cast<int>(rails);
}

}  // namespace

Result<CollectiveKind> CollectiveKindFromName(const std::string& name) {
  if (name == "allreduce") return CollectiveKind::kAllReduceRing;
  if (name == "reduce-scatter") return CollectiveKind::kReduceScatterRing;
  if (name == "allgather") return CollectiveKind::kAllGatherRing;
  if (name == "allreduce-tree") return CollectiveKind::kAllReduceTree;
  if (name == "halving-doubling") return CollectiveKind::kHalvingDoubling;
  if (name == "all-to-all") return CollectiveKind::kAllToAll;
  if (name == "pipeline") return CollectiveKind::kPipeline;
  return Status::Error("collective must be one of {allreduce, reduce-scatter, allgather, allreduce-tree, "
                       "halving-doubling, all-to-all, pipeline}, got '" + name + "'");
}

std::vector<Phase> CollectiveFlows(const Topology& t, const std::vector<int>& placement, const Collective& c) {
  std::vector<Phase> phases;
  const int hosts = static_cast<int>(placement.size());
  if (hosts < 2) return phases;
  const int rails = Rails(t, placement);
  const int ranks = hosts * rails;
  const int channels = rails * c.channels_per_nic;
  switch (c.kind) {
    case CollectiveKind::kAllReduceRing:
    case CollectiveKind::kReduceScatterRing:
    case CollectiveKind::kAllGatherRing: {
      // Channel ch is a ring over the hosts in rank order that crosses between hosts on
      // rail ch % rails; over the collective each inter-host hop carries (N-1)/N of the
      // buffer per channel share (twice for an all-reduce: reduce-scatter, then all-gather).
      const double share = c.bytes / channels * (ranks - 1) / ranks;
      const double bytes = c.kind == CollectiveKind::kAllReduceRing ? 2 * share : share;
      Phase p{"ring", {}};
      for (int ch = 0; ch < channels; ++ch) {
        const int rail = ch % rails;
        for (int i = 0; i < hosts; ++i) {
          p.flows.push_back({NicOf(t, placement[i], rail), NicOf(t, placement[(i + 1) % hosts], rail), ch, bytes});
        }
      }
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveKind::kAllReduceTree: {
      // NCCL's double binary tree over hosts: each tree carries half the channels; a tree
      // edge carries its channels' share up (reduce) and down (broadcast), pipelined.
      Phase p{"tree", {}};
      const double bytes = c.bytes / channels;
      for (int ch = 0; ch < channels; ++ch) {
        const int rail = ch % rails;
        const bool mirrored = ch % 2 == 1;  // the second tree: the first with ranks reversed
        for (int i = 1; i < hosts; ++i) {
          const int child = mirrored ? hosts - 1 - i : i, parent = mirrored ? hosts - 1 - (i - 1) / 2 : (i - 1) / 2;
          p.flows.push_back({NicOf(t, placement[child], rail), NicOf(t, placement[parent], rail), ch, bytes});
          p.flows.push_back({NicOf(t, placement[parent], rail), NicOf(t, placement[child], rail), ch, bytes});
        }
      }
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveKind::kHalvingDoubling: {
      // Recursive halving (reduce-scatter) then doubling (all-gather) between hosts; GPU r
      // of a host pairs with GPU r of its partner over rail r. Hosts beyond a power of two
      // sit out (they fold into a partner first, outside these phases).
      int span = 1;
      while (span * 2 <= hosts) span *= 2;
      double bytes = c.bytes / 2;
      for (int step = 1; step < span; step *= 2, bytes /= 2) {
        Phase halving{"halving " + std::to_string(step), {}};
        for (int i = 0; i < span; ++i) {
          for (int r = 0; r < rails; ++r) halving.flows.push_back({NicOf(t, placement[i], r), NicOf(t, placement[i ^ step], r), r, bytes});
        }
        phases.push_back(halving);
        Phase doubling = halving;
        doubling.name = "doubling " + std::to_string(step);
        phases.push_back(std::move(doubling));
      }
      break;
    }
    case CollectiveKind::kAllToAll: {
      Phase p{"all-to-all", {}};
      const double bytes = c.bytes / ranks;  // what each GPU sends each other GPU, over its rail
      for (int i = 0; i < hosts; ++i) {
        for (int j = 0; j < hosts; ++j) {
          if (i == j) continue;
          for (int r = 0; r < rails; ++r) p.flows.push_back({NicOf(t, placement[i], r), NicOf(t, placement[j], r), r, bytes * rails});
        }
      }
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveKind::kPipeline: {
      // Stages own consecutive hosts; each host hands its activations to the host at the
      // same place in the next stage, one flow per rail.
      const int stages = std::max(1, std::min(c.stages, hosts));
      const int per_stage = hosts / stages;
      Phase p{"pipeline", {}};
      for (int s = 0; s + 1 < stages; ++s) {
        for (int i = 0; i < per_stage; ++i) {
          const int from = placement[s * per_stage + i], to = placement[(s + 1) * per_stage + i];
          for (int r = 0; r < rails; ++r) p.flows.push_back({NicOf(t, from, r), NicOf(t, to, r), r, c.bytes / rails});
        }
      }
      phases.push_back(std::move(p));
      break;
    }
  }
  return phases;
}

}  // namespace bulwark::netplan
