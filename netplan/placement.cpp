#include "netplan/placement.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <tuple>

namespace bulwark::netplan {
namespace {

// A run of stages whose nodes come from one NIC group, or the stages filled from what the
// groups left over (mixed).
struct Block {
  std::vector<int> nodes;  // stages * dp, in position order
};

struct Group {
  const NicClass* cls = nullptr;
  std::vector<int> nodes;  // candidate order
};

// The groups, fastest first: bandwidth, then latency, then the bigger, then the first seen.
std::vector<Group> Groups(const PlacementProblem& pr) {
  std::map<std::pair<std::string, std::string>, Group> by_key;
  std::vector<std::pair<std::string, std::string>> order;
  for (size_t i = 0; i < pr.nodes.size(); ++i) {
    const auto key = std::make_pair(pr.nodes[i].nic, pr.nodes[i].island);
    auto [it, fresh] = by_key.try_emplace(key);
    if (fresh) {
      it->second.cls = pr.fabric.Find(pr.nodes[i].nic);
      order.push_back(key);
    }
    it->second.nodes.push_back(static_cast<int>(i));
  }
  std::vector<Group> groups;
  for (const auto& key : order) groups.push_back(std::move(by_key[key]));
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    return std::make_tuple(-a.cls->gbps, a.cls->latency_us, -a.nodes.size()) <
           std::make_tuple(-b.cls->gbps, b.cls->latency_us, -b.nodes.size());
  });
  return groups;
}

Layout Complete(const PlacementProblem& pr, std::vector<int> nodes) {
  Layout l;
  l.nodes = std::move(nodes);
  l.layers = SplitLayers(pr, l.nodes);
  return l;
}

}  // namespace

Result<Layout> PlaceNicAware(const PlacementProblem& pr) {
  if (Status s = Validate(pr); !s.ok()) return s;
  const TransformerJob& j = pr.job;
  std::vector<Group> groups = Groups(pr);
  std::vector<Block> blocks;
  int stages = 0;
  std::vector<int> leftover;
  for (Group& g : groups) {
    const int whole = std::min(static_cast<int>(g.nodes.size()) / j.dp, j.pp - stages);
    if (whole > 0) {
      blocks.push_back({std::vector<int>(g.nodes.begin(), g.nodes.begin() + whole * j.dp)});
      stages += whole;
    }
    leftover.insert(leftover.end(), g.nodes.begin() + whole * j.dp, g.nodes.end());
  }
  if (stages < j.pp) {  // leftovers are grouped, fastest group first
    blocks.push_back({std::vector<int>(leftover.begin(), leftover.begin() + (j.pp - stages) * j.dp)});
  }
  // Where the blocks sit in the pipeline decides which stages pay a slow hop; with few
  // blocks every order is tried (5! = 120 at most), else the fastest block comes first.
  std::vector<int> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::optional<Layout> best;
  double best_s = 0;
  do {
    std::vector<int> nodes;
    for (int b : order) nodes.insert(nodes.end(), blocks[b].nodes.begin(), blocks[b].nodes.end());
    Layout l = Complete(pr, std::move(nodes));
    const double s = Estimate(pr, l).iteration_s;
    if (!best || s < best_s) {
      best = std::move(l);
      best_s = s;
    }
  } while (blocks.size() <= 5 && std::next_permutation(order.begin(), order.end()));
  return *best;
}

Layout PlaceRankOrder(const PlacementProblem& pr) {
  const TransformerJob& j = pr.job;
  Layout l;
  l.nodes.resize(j.nodes());
  std::iota(l.nodes.begin(), l.nodes.end(), 0);
  for (int st = 0; st < j.pp; ++st) l.layers.push_back(j.layers / j.pp + (st < j.layers % j.pp ? 1 : 0));
  return l;
}

std::optional<int> ChooseSpare(const PlacementProblem& pr, const Layout& layout, int position,
                               const std::vector<int>& candidates) {
  std::optional<int> best;
  double best_s = 0;
  Layout trial = layout;
  for (int c : candidates) {
    trial.nodes[position] = c;
    const double s = Estimate(pr, trial).iteration_s;
    if (!best || s < best_s) {
      best = c;
      best_s = s;
    }
  }
  return best;
}

}  // namespace bulwark::netplan
