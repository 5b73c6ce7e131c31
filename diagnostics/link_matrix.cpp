#include "diagnostics/link_matrix.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace bulwark::diagnostics {

const char* LinkFindingKindName(LinkFinding::Kind kind) {
  switch (kind) {
    case LinkFinding::Kind::kNone: return "none";
    case LinkFinding::Kind::kSlowNic: return "slow_nic";
    case LinkFinding::Kind::kSlowLink: return "slow_link";
    case LinkFinding::Kind::kIncomplete: return "incomplete";
  }
  return "?";
}

LinkFinding ClassifyLinks(const std::vector<std::string>& nodes, const std::vector<LinkProbe>& probes,
                          double slow_fraction) {
  LinkFinding f;
  using Pair = std::pair<std::string, std::string>;
  const auto pair_of = [](const std::string& a, const std::string& b) { return a < b ? Pair{a, b} : Pair{b, a}; };
  std::map<Pair, std::vector<const LinkProbe*>> by_pair;
  for (const auto& p : probes) {
    if (p.from == p.to || p.mbps <= 0 || p.latency_us <= 0) continue;
    by_pair[pair_of(p.from, p.to)].push_back(&p);
    f.best_mbps = std::max(f.best_mbps, p.mbps);
    f.best_latency_us = f.best_latency_us == 0 ? p.latency_us : std::min(f.best_latency_us, p.latency_us);
  }
  std::vector<Pair> missing;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      if (!by_pair.count(pair_of(nodes[i], nodes[j]))) missing.push_back(pair_of(nodes[i], nodes[j]));
    }
  }
  if (!missing.empty()) {
    f.kind = LinkFinding::Kind::kIncomplete;
    f.evidence = "no measurement between";
    for (const auto& [a, b] : missing) f.evidence += " " + a + "<->" + b;
    return f;
  }
  if (nodes.size() < 3) {
    f.evidence = "fewer than 3 nodes: one link, nothing to compare it with";
    return f;
  }
  std::set<Pair> slow;
  char text[160];
  std::string detail;
  for (const auto& [pair, measured] : by_pair) {
    for (const LinkProbe* p : measured) {
      if (p->mbps >= slow_fraction * f.best_mbps && p->latency_us * slow_fraction <= f.best_latency_us) continue;
      slow.insert(pair);
      std::snprintf(text, sizeof(text), "%s%s->%s %.0f MB/s %.0f us", detail.empty() ? "" : "; ", p->from.c_str(),
                    p->to.c_str(), p->mbps, p->latency_us);
      detail += text;
    }
  }
  for (const auto& n : nodes) {
    bool all_slow = true;
    for (const auto& m : nodes) {
      if (m != n) all_slow = all_slow && slow.count(pair_of(n, m));
    }
    if (all_slow) f.nodes.push_back(n);
  }
  for (const auto& pair : slow) {
    const bool nic = std::find(f.nodes.begin(), f.nodes.end(), pair.first) != f.nodes.end() ||
                     std::find(f.nodes.begin(), f.nodes.end(), pair.second) != f.nodes.end();
    if (!nic) f.links.push_back(pair);
  }
  f.kind = !f.nodes.empty() ? LinkFinding::Kind::kSlowNic
           : !f.links.empty() ? LinkFinding::Kind::kSlowLink
                              : LinkFinding::Kind::kNone;
  std::snprintf(text, sizeof(text), "best pair %.0f MB/s, %.0f us round trip", f.best_mbps, f.best_latency_us);
  f.evidence = text;
  if (!f.nodes.empty()) {
    f.evidence += "; every pair of";
    for (const auto& n : f.nodes) f.evidence += " " + n;
    f.evidence += " is slow (its NIC)";
  }
  for (const auto& [a, b] : f.links) f.evidence += "; link " + a + "<->" + b + " is slow";
  if (!detail.empty()) f.evidence += " (" + detail + ")";
  return f;
}

}  // namespace bulwark::diagnostics
