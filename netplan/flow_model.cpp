#include "netplan/flow_model.h"

#include <algorithm>
#include <limits>

namespace bulwark::netplan {
namespace {

double BytesPerSecond(double gbps) { return gbps * 1e9 / 8; }

}  // namespace

double PredictCompletion(const Topology& t, const Phase& phase, const std::vector<FlowRoute>& routes) {
  const size_t N = t.nics.size(), S = t.spines.size(), LS = t.leaves.size() * S;
  // Links: NIC up [0, N), NIC down [N, 2N), leaf-to-spine [2N, 2N+LS), spine-to-leaf after.
  std::vector<double> capacity(2 * N + 2 * LS, 0);
  for (size_t n = 0; n < N; ++n) capacity[n] = capacity[N + n] = BytesPerSecond(t.nics[n].gbps);
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    for (size_t s = 0; s < S; ++s) capacity[2 * N + l * S + s] = capacity[2 * N + LS + l * S + s] = BytesPerSecond(t.Link(static_cast<int>(l), static_cast<int>(s)));
  }
  // A flow split over several paths is sent at the plan's proportions: its shares take
  // bandwidth weighted by their fraction (weighted max-min), so they end together.
  struct Sub {
    double bytes;
    int links[4];
    int count;
    double weight;
  };
  std::vector<Sub> subs;
  for (size_t i = 0; i < phase.flows.size() && i < routes.size(); ++i) {
    const Flow& f = phase.flows[i];
    if (routes[i].unroutable) return std::numeric_limits<double>::infinity();
    const int src = f.src_nic, dst = f.dst_nic;
    const int sl = t.nics[src].leaf, dl = t.nics[dst].leaf;
    if (routes[i].paths.empty()) {
      subs.push_back({f.bytes, {src, static_cast<int>(N) + dst, 0, 0}, 2, 1});
      continue;
    }
    for (const PathShare& p : routes[i].paths) {
      subs.push_back({f.bytes * p.fraction,
                      {src, static_cast<int>(N) + dst, static_cast<int>(2 * N + sl * S + p.spine), static_cast<int>(2 * N + LS + dl * S + p.spine)},
                      4, p.fraction});
    }
  }
  // Progressive filling: raise every unfrozen flow's rate together until a link fills;
  // freeze the flows through it; repeat.
  std::vector<double> remaining = capacity, rate(subs.size(), 0), users(capacity.size(), 0);
  std::vector<uint8_t> frozen(subs.size(), 0);
  for (const Sub& s : subs) {
    for (int k = 0; k < s.count; ++k) users[s.links[k]] += s.weight;
  }
  size_t unfrozen = subs.size();
  while (unfrozen > 0) {
    double step = std::numeric_limits<double>::infinity();
    for (size_t l = 0; l < capacity.size(); ++l) {
      if (users[l] > 1e-12) step = std::min(step, remaining[l] / users[l]);
    }
    for (size_t l = 0; l < capacity.size(); ++l) {
      if (users[l] > 1e-12) remaining[l] -= step * users[l];
    }
    for (size_t i = 0; i < subs.size(); ++i) {
      if (frozen[i]) continue;
      rate[i] += step * subs[i].weight;
      bool full = false;
      for (int k = 0; k < subs[i].count; ++k) full = full || remaining[subs[i].links[k]] <= 1e-9 * capacity[subs[i].links[k]];
      if (!full) continue;
      frozen[i] = 1;
      --unfrozen;
      for (int k = 0; k < subs[i].count; ++k) users[subs[i].links[k]] -= subs[i].weight;
    }
  }
  double done = 0;
  for (size_t i = 0; i < subs.size(); ++i) done = std::max(done, subs[i].bytes / rate[i]);
  return done;
}

double IdealCompletion(const Topology& t, const Phase& phase) {
  std::vector<double> up(t.nics.size(), 0), down(t.nics.size(), 0);
  for (const Flow& f : phase.flows) {
    up[f.src_nic] += f.bytes;
    down[f.dst_nic] += f.bytes;
  }
  double nic = 0;
  for (size_t n = 0; n < t.nics.size(); ++n) nic = std::max(nic, std::max(up[n], down[n]) / BytesPerSecond(t.nics[n].gbps));
  return std::max(nic, LowerBound(t, phase));
}

}  // namespace bulwark::netplan
