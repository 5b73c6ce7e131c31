#include "netplan/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace bulwark::netplan {
namespace {

double Seconds(double bytes, double gbps) { return gbps > 0 ? bytes * 8 / (gbps * 1e9) : std::numeric_limits<double>::infinity(); }
double Bytes(double seconds, double gbps) { return seconds * gbps * 1e9 / 8; }

struct Ends {
  int src_leaf, dst_leaf;
};

Ends EndsOf(const Topology& t, const Flow& f) { return {t.nics[f.src_nic].leaf, t.nics[f.dst_nic].leaf}; }

bool InterLeaf(const Topology& t, const Flow& f) {
  const Ends e = EndsOf(t, f);
  return e.src_leaf != e.dst_leaf;
}

// Equal inter-leaf flows, and every link of each plane they use equal and up.
bool Uniform(const Topology& t, const Phase& phase) {
  double bytes = -1;
  std::vector<uint8_t> planes(8, 0);
  for (const Flow& f : phase.flows) {
    if (!InterLeaf(t, f)) continue;
    if (bytes < 0) bytes = f.bytes;
    if (std::abs(f.bytes - bytes) > 1e-9 * bytes) return false;
    planes[t.leaves[t.nics[f.src_nic].leaf].plane % 8] = 1;
  }
  for (int p = 0; p < 8; ++p) {
    if (!planes[p]) continue;
    double gbps = -1;
    for (size_t l = 0; l < t.leaves.size(); ++l) {
      if (t.leaves[l].plane != p) continue;
      for (int s : t.SpinesOf(p)) {
        if (!t.Usable(static_cast<int>(l), s)) return false;
        if (gbps < 0) gbps = t.Link(static_cast<int>(l), s);
        if (t.Link(static_cast<int>(l), s) != gbps) return false;
      }
    }
  }
  return true;
}

// König: a bipartite multigraph of largest degree D has a proper D-edge-colouring; built
// edge by edge, swapping an alternating path where the two ends' free colours differ.
std::vector<int> ColourEdges(const std::vector<std::pair<int, int>>& edges, int vertices, int colours) {
  const size_t D = static_cast<size_t>(colours);
  std::vector<int> left(vertices * D, -1), right(vertices * D, -1), colour(edges.size(), -1);
  auto first_free = [&](const std::vector<int>& at, int v) {
    for (size_t c = 0; c < D; ++c) {
      if (at[v * D + c] < 0) return static_cast<int>(c);
    }
    return -1;
  };
  auto set = [&](int e, int c) {
    colour[e] = c;
    left[edges[e].first * D + c] = e;
    right[edges[e].second * D + c] = e;
  };
  std::vector<int> path;
  for (int e = 0; e < static_cast<int>(edges.size()); ++e) {
    const auto [u, v] = edges[e];
    const int a = first_free(left, u), b = first_free(right, v);
    if (right[v * D + a] < 0) {
      set(e, a);
      continue;
    }
    if (left[u * D + b] < 0) {
      set(e, b);
      continue;
    }
    // a is free at u and taken at v; b the reverse. The path from v along a, b, a, ...
    // cannot reach u, so swapping its colours frees a at v.
    path.clear();
    bool at_right = true;
    int x = v, c = a;
    for (;;) {
      const int next = at_right ? right[x * D + c] : left[x * D + c];
      if (next < 0) break;
      path.push_back(next);
      x = at_right ? edges[next].first : edges[next].second;
      at_right = !at_right;
      c = c == a ? b : a;
    }
    for (int p : path) {
      left[edges[p].first * D + colour[p]] = -1;
      right[edges[p].second * D + colour[p]] = -1;
    }
    for (int p : path) set(p, colour[p] == a ? b : a);
    set(e, a);
  }
  return colour;
}

void SetPorts(const Topology& t, const Phase& phase, const SwitchHash& hash, std::vector<FlowRoute>* routes, size_t only = SIZE_MAX) {
  for (size_t i = 0; i < phase.flows.size(); ++i) {
    if (only != SIZE_MAX && i != only) continue;
    const Flow& f = phase.flows[i];
    const Ends e = EndsOf(t, f);
    FlowRoute& r = (*routes)[i];
    if (r.paths.empty()) continue;
    const std::vector<int> group = EcmpGroup(t, e.src_leaf, e.dst_leaf);
    FiveTuple tuple;
    tuple.src_ip = NicAddress(t, f.src_nic);
    tuple.dst_ip = NicAddress(t, f.dst_nic);
    for (PathShare& share : r.paths) {
      const auto at = std::find(group.begin(), group.end(), share.spine);
      share.src_port = at == group.end() ? 0 : SteeringPort(hash, tuple, static_cast<int>(at - group.begin()), static_cast<int>(group.size()));
    }
  }
}

void Finish(const Topology& t, const Phase& phase, const PlanOptions& options, Plan* plan) {
  SetPorts(t, phase, options.hash, &plan->routes);
  plan->max_load_s = Loads(t, phase, plan->routes).Max();
  plan->bound_s = LowerBound(t, phase);
  plan->split_flows = plan->unroutable_flows = 0;
  for (const FlowRoute& r : plan->routes) {
    plan->split_flows += r.paths.size() > 1;
    plan->unroutable_flows += r.unroutable;
  }
}

void PlanExact(const Topology& t, const Phase& phase, const PlanOptions& options, Plan* plan) {
  std::vector<int> planes;
  for (const Flow& f : phase.flows) {
    if (InterLeaf(t, f)) planes.push_back(t.leaves[t.nics[f.src_nic].leaf].plane);
  }
  std::sort(planes.begin(), planes.end());
  planes.erase(std::unique(planes.begin(), planes.end()), planes.end());
  for (int plane : planes) {
    std::vector<size_t> flows;
    std::vector<std::pair<int, int>> edges;
    std::vector<int> out(t.leaves.size(), 0), in(t.leaves.size(), 0);
    for (size_t i = 0; i < phase.flows.size(); ++i) {
      const Flow& f = phase.flows[i];
      const Ends e = EndsOf(t, f);
      if (e.src_leaf == e.dst_leaf || t.leaves[e.src_leaf].plane != plane) continue;
      flows.push_back(i);
      edges.emplace_back(e.src_leaf, e.dst_leaf);
      ++out[e.src_leaf];
      ++in[e.dst_leaf];
    }
    const int delta = std::max(*std::max_element(out.begin(), out.end()), *std::max_element(in.begin(), in.end()));
    const std::vector<int> colour = ColourEdges(edges, static_cast<int>(t.leaves.size()), delta);
    const std::vector<int> spines = t.SpinesOf(plane);
    const int64_t S = static_cast<int64_t>(spines.size()), D = delta;
    for (size_t k = 0; k < flows.size(); ++k) {
      FlowRoute& r = plan->routes[flows[k]];
      const int64_t c = colour[k];
      if (!options.split) {
        r.paths = {{spines[c % S], 1, 0}};
        continue;
      }
      // Colour c is [c*S, (c+1)*S) and spine j is [j*D, (j+1)*D) on a line of length D*S.
      for (int64_t j = (c * S) / D; j < S && j * D < (c + 1) * S; ++j) {
        const int64_t overlap = std::min((c + 1) * S, (j + 1) * D) - std::max(c * S, j * D);
        if (overlap > 0) r.paths.push_back({spines[j], static_cast<double>(overlap) / static_cast<double>(S), 0});
      }
    }
  }
  plan->exact = true;
}

// The spine for `bytes` of a flow that keeps its two links least loaded; -1 if none.
int LeastLoaded(const Topology& t, const std::vector<int>& group, const Ends& e, double bytes, const LinkLoads& loads) {
  const size_t S = t.spines.size();
  int best = -1;
  double best_peak = 0, best_sum = 0;
  for (int s : group) {
    const double up = loads.up[e.src_leaf * S + s] + Seconds(bytes, t.Link(e.src_leaf, s));
    const double down = loads.down[e.dst_leaf * S + s] + Seconds(bytes, t.Link(e.dst_leaf, s));
    const double peak = std::max(up, down), sum = up + down;
    if (best < 0 || peak < best_peak - 1e-15 || (std::abs(peak - best_peak) <= 1e-15 && sum < best_sum)) {
      best = s;
      best_peak = peak;
      best_sum = sum;
    }
  }
  return best;
}

void AddShare(const Topology& t, const Ends& e, int spine, double bytes, LinkLoads* loads) {
  const size_t S = t.spines.size();
  loads->up[e.src_leaf * S + spine] += Seconds(bytes, t.Link(e.src_leaf, spine));
  loads->down[e.dst_leaf * S + spine] += Seconds(bytes, t.Link(e.dst_leaf, spine));
}

// Places `bytes` of flow f (already holding `route`) on its group: with splitting, into the
// room each spine has below `target` first, the rest onto the least loaded; whole, onto
// the least loaded.
void Place(const Topology& t, const Flow& f, double bytes, double target, bool split, FlowRoute* route, LinkLoads* loads) {
  const Ends e = EndsOf(t, f);
  const std::vector<int> group = EcmpGroup(t, e.src_leaf, e.dst_leaf);
  if (group.empty()) {
    route->unroutable = true;
    return;
  }
  const size_t S = t.spines.size();
  auto add = [&](int spine, double b) {
    AddShare(t, e, spine, b, loads);
    for (PathShare& p : route->paths) {
      if (p.spine == spine) {
        p.fraction += b / f.bytes;
        return;
      }
    }
    route->paths.push_back({spine, b / f.bytes, 0});
  };
  if (split) {
    const int first = LeastLoaded(t, group, e, bytes, *loads);
    const double room_first = std::min(Bytes(target - loads->up[e.src_leaf * S + first], t.Link(e.src_leaf, first)),
                                       Bytes(target - loads->down[e.dst_leaf * S + first], t.Link(e.dst_leaf, first)));
    if (room_first + 1e-9 * f.bytes >= bytes) return add(first, bytes);  // fits whole: no split
    for (int s : group) {
      if (bytes <= 1e-12 * f.bytes) return;
      const double room = std::min(Bytes(target - loads->up[e.src_leaf * S + s], t.Link(e.src_leaf, s)),
                                   Bytes(target - loads->down[e.dst_leaf * S + s], t.Link(e.dst_leaf, s)));
      if (room <= 1e-9 * f.bytes) continue;
      const double b = std::min(room, bytes);
      add(s, b);
      bytes -= b;
    }
    if (bytes <= 1e-12 * f.bytes) return;
  }
  add(LeastLoaded(t, group, e, bytes, *loads), bytes);
}

void PlanGreedy(const Topology& t, const Phase& phase, const PlanOptions& options, Plan* plan) {
  std::vector<size_t> order;
  for (size_t i = 0; i < phase.flows.size(); ++i) {
    if (InterLeaf(t, phase.flows[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return phase.flows[a].bytes > phase.flows[b].bytes; });
  LinkLoads loads{std::vector<double>(t.leaves.size() * t.spines.size(), 0), std::vector<double>(t.leaves.size() * t.spines.size(), 0)};
  const double target = LowerBound(t, phase);
  for (size_t i : order) Place(t, phase.flows[i], phase.flows[i].bytes, target, options.split, &plan->routes[i], &loads);
}

}  // namespace

double LinkLoads::Max() const {
  double m = 0;
  for (double v : up) m = std::max(m, v);
  for (double v : down) m = std::max(m, v);
  return m;
}

LinkLoads Loads(const Topology& t, const Phase& phase, const std::vector<FlowRoute>& routes) {
  LinkLoads loads{std::vector<double>(t.leaves.size() * t.spines.size(), 0), std::vector<double>(t.leaves.size() * t.spines.size(), 0)};
  for (size_t i = 0; i < phase.flows.size() && i < routes.size(); ++i) {
    const Ends e = EndsOf(t, phase.flows[i]);
    for (const PathShare& p : routes[i].paths) AddShare(t, e, p.spine, phase.flows[i].bytes * p.fraction, &loads);
  }
  return loads;
}

double LowerBound(const Topology& t, const Phase& phase) {
  std::vector<double> out(t.leaves.size(), 0), in(t.leaves.size(), 0);
  for (const Flow& f : phase.flows) {
    const Ends e = EndsOf(t, f);
    if (e.src_leaf == e.dst_leaf || EcmpGroup(t, e.src_leaf, e.dst_leaf).empty()) continue;
    out[e.src_leaf] += f.bytes;
    in[e.dst_leaf] += f.bytes;
  }
  double bound = 0;
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    double gbps = 0;
    for (int s : t.SpinesOf(t.leaves[l].plane)) gbps += t.Usable(static_cast<int>(l), s) ? t.Link(static_cast<int>(l), s) : 0;
    if (out[l] > 0 || in[l] > 0) bound = std::max(bound, Seconds(std::max(out[l], in[l]), gbps));
  }
  return bound;
}

double CeilingBound(const Topology& t, const Phase& phase) {
  if (!Uniform(t, phase)) return 0;
  std::vector<int> out(t.leaves.size(), 0), in(t.leaves.size(), 0);
  double bytes = 0;
  for (const Flow& f : phase.flows) {
    const Ends e = EndsOf(t, f);
    if (e.src_leaf == e.dst_leaf) continue;
    ++out[e.src_leaf];
    ++in[e.dst_leaf];
    bytes = f.bytes;
  }
  double bound = 0;
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    const std::vector<int> spines = t.SpinesOf(t.leaves[l].plane);
    const int most = std::max(out[l], in[l]);
    if (most == 0) continue;
    const double per_link = std::ceil(static_cast<double>(most) / static_cast<double>(spines.size()));
    bound = std::max(bound, Seconds(per_link * bytes, t.Link(static_cast<int>(l), spines[0])));
  }
  return bound;
}

Plan PlanPhase(const Topology& t, const Phase& phase, const PlanOptions& options) {
  Plan plan;
  plan.routes.resize(phase.flows.size());
  if (Uniform(t, phase)) {
    PlanExact(t, phase, options, &plan);
  } else {
    PlanGreedy(t, phase, options, &plan);
  }
  Finish(t, phase, options, &plan);
  return plan;
}

Plan EcmpPhase(const Topology& t, const Phase& phase, const SwitchHash& hash) {
  Plan plan;
  plan.routes.resize(phase.flows.size());
  for (size_t i = 0; i < phase.flows.size(); ++i) {
    const Flow& f = phase.flows[i];
    const Ends e = EndsOf(t, f);
    if (e.src_leaf == e.dst_leaf) continue;
    const std::vector<int> group = EcmpGroup(t, e.src_leaf, e.dst_leaf);
    if (group.empty()) {
      plan.routes[i].unroutable = true;
      continue;
    }
    // A queue pair's source port, as the NIC's driver picks it: a hash of the connection.
    uint64_t x = (static_cast<uint64_t>(f.src_nic) << 40) ^ (static_cast<uint64_t>(f.dst_nic) << 16) ^ static_cast<uint64_t>(f.channel);
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    FiveTuple tuple{NicAddress(t, f.src_nic), NicAddress(t, f.dst_nic), static_cast<uint16_t>(49152 + x % 16384)};
    plan.routes[i].paths = {{group[hash(tuple) % group.size()], 1, tuple.src_port}};
  }
  plan.max_load_s = Loads(t, phase, plan.routes).Max();
  plan.bound_s = LowerBound(t, phase);
  return plan;
}

size_t Replan(const Topology& t, const Phase& phase, Plan* plan, const PlanOptions& options) {
  plan->routes.resize(phase.flows.size());
  const double target = LowerBound(t, phase);
  // Loads of everything that stays where it is.
  std::vector<std::pair<size_t, double>> moving;  // flow, bytes to place
  for (size_t i = 0; i < phase.flows.size(); ++i) {
    const Ends e = EndsOf(t, phase.flows[i]);
    FlowRoute& r = plan->routes[i];
    double lost = 0;
    auto kept = std::remove_if(r.paths.begin(), r.paths.end(), [&](const PathShare& p) {
      const bool down = !t.Usable(e.src_leaf, p.spine) || !t.Usable(e.dst_leaf, p.spine);
      if (down) lost += p.fraction;
      return down;
    });
    if (kept == r.paths.end()) continue;
    r.paths.erase(kept, r.paths.end());
    if (!options.split) {
      r.paths.clear();
      lost = 1;
    }
    moving.emplace_back(i, lost * phase.flows[i].bytes);
  }
  LinkLoads loads = Loads(t, phase, plan->routes);
  for (const auto& [i, bytes] : moving) Place(t, phase.flows[i], bytes, target, options.split, &plan->routes[i], &loads);
  // A failed link shrinks the ECMP group of every flow from or to its leaf, so the same
  // spine takes a new source port even for flows that stay on it.
  std::vector<uint8_t> touched(t.leaves.size(), 0);
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    for (size_t s = 0; s < t.spines.size(); ++s) touched[l] |= t.failed[l * t.spines.size() + s];
  }
  for (size_t i = 0; i < phase.flows.size(); ++i) {
    const Ends e = EndsOf(t, phase.flows[i]);
    if (touched[e.src_leaf] || touched[e.dst_leaf]) SetPorts(t, phase, options.hash, &plan->routes, i);
  }
  plan->max_load_s = loads.Max();
  plan->bound_s = target;
  plan->split_flows = plan->unroutable_flows = 0;
  for (const FlowRoute& r : plan->routes) {
    plan->split_flows += r.paths.size() > 1;
    plan->unroutable_flows += r.unroutable;
  }
  plan->exact = false;
  return moving.size();
}

}  // namespace bulwark::netplan
