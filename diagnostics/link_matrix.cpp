#include "diagnostics/link_matrix.h"

#include <algorithm>
#include <cstdio>
#include <functional>
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
  // A pair is as good as its worse direction.
  struct Cell {
    double mbps = 0, latency_us = 0;
  };
  std::map<Pair, Cell> pair_value;
  for (const auto& [pair, measured] : by_pair) {
    Cell c{measured.front()->mbps, measured.front()->latency_us};
    for (const LinkProbe* p : measured) c = {std::min(c.mbps, p->mbps), std::max(c.latency_us, p->latency_us)};
    pair_value[pair] = c;
  }
  // Each node at its best pair (a slow NIC spoils every one of them); the reference is the
  // median node's best, so one lucky measurement, or one slow node, does not set it.
  std::vector<double> node_mbps, node_latency;
  std::map<std::string, Cell> node_best;
  for (const auto& n : nodes) {
    Cell best;
    for (const auto& [pair, c] : pair_value) {
      if (pair.first != n && pair.second != n) continue;
      best = {std::max(best.mbps, c.mbps), best.latency_us == 0 ? c.latency_us : std::min(best.latency_us, c.latency_us)};
    }
    node_best[n] = best;
    node_mbps.push_back(best.mbps);
    node_latency.push_back(best.latency_us);
  }
  std::sort(node_mbps.begin(), node_mbps.end(), std::greater<>());
  std::sort(node_latency.begin(), node_latency.end());
  f.best_mbps = node_mbps[node_mbps.size() / 2];
  f.best_latency_us = node_latency[node_latency.size() / 2];
  const auto is_slow = [&](const Cell& c) {
    return c.mbps < slow_fraction * f.best_mbps || c.latency_us * slow_fraction > f.best_latency_us;
  };
  char text[160];
  std::string detail;
  std::set<Pair> slow;
  for (const auto& [pair, measured] : by_pair) {
    if (!is_slow(pair_value[pair])) continue;
    slow.insert(pair);
    for (const LinkProbe* p : measured) {
      std::snprintf(text, sizeof(text), "%s%s->%s %.0f MB/s %.0f us", detail.empty() ? "" : "; ", p->from.c_str(),
                    p->to.c_str(), p->mbps, p->latency_us);
      detail += text;
    }
  }
  for (const auto& n : nodes) {
    if (is_slow(node_best[n])) f.nodes.push_back(n);
  }
  for (const auto& pair : slow) {
    const bool nic = std::find(f.nodes.begin(), f.nodes.end(), pair.first) != f.nodes.end() ||
                     std::find(f.nodes.begin(), f.nodes.end(), pair.second) != f.nodes.end();
    if (!nic) f.links.push_back(pair);
  }
  f.kind = !f.nodes.empty() ? LinkFinding::Kind::kSlowNic
           : !f.links.empty() ? LinkFinding::Kind::kSlowLink
                              : LinkFinding::Kind::kNone;
  std::snprintf(text, sizeof(text), "a typical node's best pair %.0f MB/s, %.0f us round trip", f.best_mbps, f.best_latency_us);
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
