// bench_placement: NIC-aware placement on mixed clusters (netplan/placement.h). For a
// GPT-like job (32 layers, hidden 4096, sequence 2048, 16 micro-batches, 8 GPUs per node)
// on 64 nodes, pp 4 x dp 16, several mixes of InfiniBand, RoCE and Ethernet nodes, their
// racks (4 nodes each) interleaved in name order:
// - modelled throughput of the NIC-aware placement over an all-InfiniBand cluster of the
//   same size (goal >= 0.90) and over an all-Ethernet one (goal >= 1.5),
// - and over rank-order placement of the same cluster (the baseline, same run),
// - and how much 3,000 random swaps hill-climbing from the placement gain (1.000: none).
// Then the placement time of 4,096 nodes (pp 16 x dp 256, three classes; goal <= 1 s),
// with the rank-order placement's time beside it. Medians of 5; the last line is one JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netplan/iteration_model.h"
#include "netplan/placement.h"

using namespace bulwark::netplan;
using nlohmann::json;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double Seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `counts` nodes of each class, in racks of 4 whose classes take turns in name order.
PlacementProblem Cluster(const TransformerJob& job, const std::vector<std::pair<std::string, int>>& counts) {
  PlacementProblem p;
  p.job = job;
  p.fabric.classes = DefaultNicClasses();
  std::vector<std::pair<std::string, int>> left = counts;
  for (bool any = true; any;) {
    any = false;
    for (auto& [nic, n] : left) {
      for (int i = 0; i < 4 && n > 0; ++i, --n) p.nodes.push_back({"node-" + std::to_string(p.nodes.size() + 1), nic, ""});
      any = any || n > 0;
    }
  }
  return p;
}

double Throughput(const PlacementProblem& p, const Layout& l) { return Estimate(p, l).samples_per_gpu_s; }

double Placed(const PlacementProblem& p) { return Throughput(p, PlaceNicAware(p).value()); }

// A check on the placement where the exhaustive optimum is out of reach: hill-climbing from
// it by random swaps of two positions' nodes (each trial with its best layer split). The
// best found over the placement's own figure; 1.000 when no swap improves it.
double ClimbFrom(const PlacementProblem& p, Layout l, int trials) {
  std::mt19937 rng(3);
  double best = Estimate(p, l).iteration_s;
  const double start = best;
  for (int t = 0; t < trials; ++t) {
    Layout trial = l;
    std::swap(trial.nodes[rng() % trial.nodes.size()], trial.nodes[rng() % trial.nodes.size()]);
    trial.layers = SplitLayers(p, trial.nodes);
    const double s = Estimate(p, trial).iteration_s;
    if (s < best) best = s, l = trial;
  }
  return start / best;
}

struct Case {
  std::string name;
  int pp, dp;
  std::vector<std::pair<std::string, int>> counts;  // "class" or "class@island"
};

PlacementProblem CaseCluster(const TransformerJob& job, const Case& c) {
  PlacementProblem p = Cluster(job, c.counts);
  for (PlacementNode& n : p.nodes) {
    if (const size_t at = n.nic.find('@'); at != std::string::npos) {
      n.island = n.nic.substr(at + 1);
      n.nic = n.nic.substr(0, at);
    }
  }
  return p;
}

}  // namespace

int main() {
  TransformerJob job;
  job.tp = 8;
  job.layers = 32;
  job.hidden = 4096;
  job.seq_len = 2048;
  job.micro_batches = 16;
  // Holmes' setting first: RDMA islands of different kinds joined only by Ethernet; then
  // clusters where some nodes have nothing but Ethernet.
  const std::vector<Case> cases = {
      {"ib32+roce32", 4, 16, {{"ib", 32}, {"roce", 32}}},
      {"ib32@a+ib32@b", 4, 16, {{"ib@a", 32}, {"ib@b", 32}}},
      {"ib16+roce16+roce16@b+ib16@b", 4, 16, {{"ib", 16}, {"roce", 16}, {"roce@b", 16}, {"ib@b", 16}}},
      {"ib32+roce24+eth8", 8, 8, {{"ib", 32}, {"roce", 24}, {"ethernet", 8}}},
      {"ib16+roce32+eth16", 4, 16, {{"ib", 16}, {"roce", 32}, {"ethernet", 16}}},
      {"ib16+roce16+eth32", 4, 16, {{"ib", 16}, {"roce", 16}, {"ethernet", 32}}},
  };
  json mixes = json::array();
  for (const Case& c : cases) {
    job.pp = c.pp;
    job.dp = c.dp;
    const int n = job.nodes();
    const double all_ib = Placed(Cluster(job, {{"ib", n}}));
    const double all_eth = Placed(Cluster(job, {{"ethernet", n}}));
    const PlacementProblem p = CaseCluster(job, c);
    const Layout nic = PlaceNicAware(p).value();
    const IterationEstimate e = Estimate(p, nic);
    const double rank = Throughput(p, PlaceRankOrder(p));
    const double climbed = ClimbFrom(p, nic, 3000);
    std::string split, classes;
    for (size_t s = 0; s < nic.layers.size(); ++s) {
      split += (s ? "," : "") + std::to_string(nic.layers[s]);
      classes += (s ? "," : "") + e.stage_class[s];
    }
    const json m = {{"cluster", c.name},
                    {"pp", c.pp},
                    {"dp", c.dp},
                    {"layers", split},
                    {"stage_classes", classes},
                    {"iteration_s", e.iteration_s},
                    {"all_ethernet_over_all_ib", all_eth / all_ib},
                    {"over_all_ib", e.samples_per_gpu_s / all_ib},
                    {"over_all_ethernet", e.samples_per_gpu_s / all_eth},
                    {"over_rank_order", e.samples_per_gpu_s / rank},
                    {"swap_search_best_over_placed", climbed}};
    std::printf("%-28s pp %d dp %-2d layers %-16s over %-40s %.3f of all-IB, %.2fx all-Ethernet, %.2fx rank order; "
                "3,000 swaps: %.3f\n",
                c.name.c_str(), c.pp, c.dp, split.c_str(), classes.c_str(), m["over_all_ib"].get<double>(),
                m["over_all_ethernet"].get<double>(), m["over_rank_order"].get<double>(), climbed);
    mixes.push_back(m);
  }

  TransformerJob big = job;
  big.pp = 16;
  big.dp = 256;
  big.layers = 96;
  const PlacementProblem large = Cluster(big, {{"ib", 1536}, {"roce", 1536}, {"ethernet", 1024}});
  std::vector<double> place_s, rank_s;
  for (int run = 0; run < 5; ++run) {
    place_s.push_back(Seconds([&] { PlaceNicAware(large).value(); }));
    rank_s.push_back(Seconds([&] { Estimate(large, PlaceRankOrder(large)); }));
  }
  const double placed_large = Placed(large), rank_large = Throughput(large, PlaceRankOrder(large));
  std::printf("4,096 nodes (pp 16 x dp 256): placed in %.1f ms (rank order and its estimate %.2f ms); %.2fx rank order\n",
              Median(place_s) * 1e3, Median(rank_s) * 1e3, placed_large / rank_large);
  const json out = {{"bench", "placement"},
                    {"mixes", mixes},
                    {"large", {{"nodes", large.nodes.size()},
                               {"place_s_median", Median(place_s)},
                               {"rank_order_s_median", Median(rank_s)},
                               {"over_rank_order", placed_large / rank_large}}}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
