// A leaf-spine fabric as the planner sees it: hosts and their NICs (rail, speed, plane),
// the leaf each NIC is cabled to, spines per plane, and the capacity of every leaf-spine
// link (0: not cabled, or failed). Every leaf of a plane is cabled to every spine of that
// plane (a two-tier Clos) unless a link entry says otherwise.
//
// Variants: two-tier (a host's NICs share its leaf), rail-optimized (NIC r of every host in
// a group goes to the group's rail-r leaf), dual-plane (the NICs alternate between two
// separate fabrics). Pure: read from YAML, or generated for tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::netplan {

struct Nic {
  int host = 0;
  int rail = 0;
  int plane = 0;
  int leaf = 0;
  double gbps = 400;
  std::string name;
};

struct Switch {
  std::string name;
  int plane = 0;
};

struct Topology {
  std::string name;
  std::vector<std::string> hosts;
  std::vector<std::vector<int>> host_nics;  // per host, its NICs by rail
  std::vector<Nic> nics;
  std::vector<Switch> leaves, spines;
  std::vector<double> link_gbps;  // leaves x spines; 0: none (other plane, not cabled or failed)
  std::vector<uint8_t> failed;    // leaves x spines

  double Link(int leaf, int spine) const { return link_gbps[static_cast<size_t>(leaf) * spines.size() + spine]; }
  bool Usable(int leaf, int spine) const {
    const size_t i = static_cast<size_t>(leaf) * spines.size() + spine;
    return link_gbps[i] > 0 && !failed[i];
  }
  void SetFailed(int leaf, int spine, bool down) { failed[static_cast<size_t>(leaf) * spines.size() + spine] = down; }
  // The spines of a plane, in order.
  std::vector<int> SpinesOf(int plane) const;
  int FindLeaf(const std::string& name) const;
  int FindSpine(const std::string& name) const;
};

enum class FabricKind { kTwoTier, kRailOptimized, kDualPlane };

struct FabricShape {
  FabricKind kind = FabricKind::kRailOptimized;
  int hosts = 16;
  int nics_per_host = 8;
  int hosts_per_leaf = 4;  // per group (rail-optimized, dual-plane) or per leaf (two-tier)
  int spines = 4;          // per plane
  double nic_gbps = 400;
  double link_gbps = 400;  // each leaf-spine link
};

Topology MakeFabric(const FabricShape& shape);

// The topology file (see the README's "Traffic planning"): a `generate:` shape, or explicit
// leaves, spines and hosts; then `links:` entries that change a link's capacity or mark it
// failed. Every error names the file, the line and the element.
Result<Topology> ParseTopology(const std::string& yaml_text, const std::string& source);

}  // namespace bulwark::netplan
