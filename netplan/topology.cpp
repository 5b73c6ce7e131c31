#include "netplan/topology.h"

#include <map>

#include "common/strict_yaml.h"

namespace bulwark::netplan {

std::vector<int> Topology::SpinesOf(int plane) const {
  std::vector<int> out;
  for (size_t s = 0; s < spines.size(); ++s) {
    if (spines[s].plane == plane) out.push_back(static_cast<int>(s));
  }
  return out;
}

int Topology::FindLeaf(const std::string& name) const {
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int Topology::FindSpine(const std::string& name) const {
  for (size_t i = 0; i < spines.size(); ++i) {
    if (spines[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

std::string Numbered(const char* prefix, int n, int width) {
  std::string digits = std::to_string(n);
  while (static_cast<int>(digits.size()) < width) digits = "0" + digits;
  return prefix + digits;
}

// Cables every leaf to every spine of its plane at `gbps`.
void CableClos(Topology& t, double gbps) {
  t.link_gbps.assign(t.leaves.size() * t.spines.size(), 0);
  t.failed.assign(t.leaves.size() * t.spines.size(), 0);
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    for (size_t s = 0; s < t.spines.size(); ++s) {
      if (t.leaves[l].plane == t.spines[s].plane) t.link_gbps[l * t.spines.size() + s] = gbps;
    }
  }
}

}  // namespace

Topology MakeFabric(const FabricShape& shape) {
  Topology t;
  t.name = "generated";
  const int planes = shape.kind == FabricKind::kDualPlane ? 2 : 1;
  const int groups = (shape.hosts + shape.hosts_per_leaf - 1) / shape.hosts_per_leaf;
  // Leaves: two-tier, one per group; rail-optimized, one per (group, rail); dual-plane,
  // rail-optimized within each plane (rail r on plane r % 2).
  std::map<std::pair<int, int>, int> leaf_of;  // (group, rail) -> leaf
  for (int g = 0; g < groups; ++g) {
    const int rails = shape.kind == FabricKind::kTwoTier ? 1 : shape.nics_per_host;
    for (int r = 0; r < rails; ++r) {
      leaf_of[{g, r}] = static_cast<int>(t.leaves.size());
      t.leaves.push_back({"leaf-" + std::to_string(g) + (rails > 1 ? "-r" + std::to_string(r) : ""), r % planes});
    }
  }
  for (int p = 0; p < planes; ++p) {
    for (int s = 0; s < shape.spines; ++s) t.spines.push_back({"spine-" + (planes > 1 ? std::to_string(p) + "-" : "") + std::to_string(s), p});
  }
  for (int h = 0; h < shape.hosts; ++h) {
    t.hosts.push_back(Numbered("host-", h, 4));
    t.host_nics.emplace_back();
    for (int r = 0; r < shape.nics_per_host; ++r) {
      Nic n;
      n.host = h;
      n.rail = r;
      n.plane = r % planes;
      n.leaf = leaf_of[{h / shape.hosts_per_leaf, shape.kind == FabricKind::kTwoTier ? 0 : r}];
      n.gbps = shape.nic_gbps;
      n.name = "nic" + std::to_string(r);
      t.host_nics.back().push_back(static_cast<int>(t.nics.size()));
      t.nics.push_back(n);
    }
  }
  CableClos(t, shape.link_gbps);
  return t;
}

Result<Topology> ParseTopology(const std::string& yaml_text, const std::string& source) {
  try {
    StrictMap top(ParseYaml(yaml_text, source), source);
    Topology t;
    t.name = top.String("name", "topology");
    const double link_gbps = top.Double("link_gbps", 400, 1, 1e6);
    if (top.Has("generate")) {
      StrictMap g = top.Map("generate");
      FabricShape shape;
      const std::string kind = g.String("kind", "rail-optimized", {"two-tier", "rail-optimized", "dual-plane"});
      shape.kind = kind == "two-tier" ? FabricKind::kTwoTier : kind == "dual-plane" ? FabricKind::kDualPlane : FabricKind::kRailOptimized;
      shape.hosts = static_cast<int>(g.RequiredInt("hosts", 1, 1 << 20));
      shape.nics_per_host = static_cast<int>(g.Int("nics_per_host", 8, 1, 64));
      shape.hosts_per_leaf = static_cast<int>(g.Int("hosts_per_leaf", 32, 1, 1 << 16));
      shape.spines = static_cast<int>(g.Int("spines", 8, 1, 1 << 12));
      shape.nic_gbps = g.Double("nic_gbps", 400, 1, 1e6);
      shape.link_gbps = link_gbps;
      if (shape.kind == FabricKind::kDualPlane && shape.nics_per_host < 2) g.Fail("nics_per_host", "a dual-plane fabric needs at least 2 NICs per host");
      g.Finish();
      std::string name = t.name;
      t = MakeFabric(shape);
      t.name = name;
    } else {
      const int planes = static_cast<int>(top.Int("planes", 1, 1, 8));
      for (auto& s : top.MapList("spines")) {
        Switch sw{s.String("name", ""), static_cast<int>(s.Int("plane", 0, 0, planes - 1))};
        if (sw.name.empty()) s.Fail("name", "every spine needs a name");
        if (t.FindSpine(sw.name) >= 0) s.Fail("name", "spine '" + sw.name + "' is listed twice");
        s.Finish();
        t.spines.push_back(sw);
      }
      for (auto& l : top.MapList("leaves")) {
        Switch sw{l.String("name", ""), static_cast<int>(l.Int("plane", 0, 0, planes - 1))};
        if (sw.name.empty()) l.Fail("name", "every leaf needs a name");
        if (t.FindLeaf(sw.name) >= 0) l.Fail("name", "leaf '" + sw.name + "' is listed twice");
        l.Finish();
        t.leaves.push_back(sw);
      }
      if (t.spines.empty()) top.Fail("spines", "at least one spine is required");
      if (t.leaves.empty()) top.Fail("leaves", "at least one leaf is required");
      for (auto& h : top.MapList("hosts")) {
        const std::string name = h.String("name", "");
        if (name.empty()) h.Fail("name", "every host needs a name");
        const int host = static_cast<int>(t.hosts.size());
        t.hosts.push_back(name);
        t.host_nics.emplace_back();
        auto nic_maps = h.MapList("nics");
        if (nic_maps.empty()) h.Fail("nics", "host '" + name + "' has no NIC");
        for (auto& n : nic_maps) {
          Nic nic;
          nic.host = host;
          nic.name = n.String("name", "nic" + std::to_string(t.host_nics.back().size()));
          nic.rail = static_cast<int>(n.Int("rail", static_cast<int64_t>(t.host_nics.back().size()), 0, 63));
          nic.gbps = n.Double("gbps", 400, 1, 1e6);
          const std::string leaf = n.String("leaf", "");
          nic.leaf = t.FindLeaf(leaf);
          if (nic.leaf < 0) n.Fail("leaf", "no leaf named '" + leaf + "'");
          nic.plane = t.leaves[nic.leaf].plane;
          n.Finish();
          t.host_nics.back().push_back(static_cast<int>(t.nics.size()));
          t.nics.push_back(nic);
        }
        h.Finish();
      }
      if (t.hosts.empty()) top.Fail("hosts", "at least one host is required");
      CableClos(t, link_gbps);
    }
    for (auto& link : top.MapList("links")) {
      const std::string leaf = link.String("leaf", ""), spine = link.String("spine", "");
      const int l = t.FindLeaf(leaf), s = t.FindSpine(spine);
      if (l < 0) link.Fail("leaf", "no leaf named '" + leaf + "'");
      if (s < 0) link.Fail("spine", "no spine named '" + spine + "'");
      if (t.leaves[l].plane != t.spines[s].plane) link.Fail("spine", "spine '" + spine + "' is not on leaf '" + leaf + "''s plane");
      const size_t i = static_cast<size_t>(l) * t.spines.size() + s;
      t.link_gbps[i] = link.Double("gbps", t.link_gbps[i], 0, 1e6);
      t.failed[i] = link.Bool("failed", false);
      link.Finish();
    }
    top.Finish();
    return t;
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
}

}  // namespace bulwark::netplan
