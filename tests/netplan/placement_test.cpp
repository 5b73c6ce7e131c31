// NIC-aware placement: the model's arithmetic, the exact layer split, Holmes' rules, the
// distance to the exhaustive optimum on small clusters, and spare choice.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <functional>
#include <random>

#include "netplan/iteration_model.h"
#include "netplan/placement.h"

namespace bulwark::netplan {
namespace {

PlacementProblem Problem(int pp, int dp, const std::vector<std::string>& nics) {
  PlacementProblem p;
  p.job.pp = pp;
  p.job.dp = dp;
  p.job.layers = 24;
  p.job.hidden = 4096;
  p.job.micro_batches = 8;
  p.fabric.classes = DefaultNicClasses();
  for (size_t i = 0; i < nics.size(); ++i) p.nodes.push_back({"n" + std::to_string(i), nics[i], ""});
  return p;
}

double Time(const PlacementProblem& p, const Layout& l) { return Estimate(p, l).iteration_s; }

TEST(IterationModelTest, OneStageIsComputePlusARingAllReduceByHand) {
  PlacementProblem p = Problem(1, 2, {"ib", "ib"});
  p.job.layers = 10;
  Layout l{{0, 1}, {10}};
  const IterationEstimate e = Estimate(p, l);
  const double b = 1, s = 2048, h = 4096;
  const double layer = 72 * b * s * h * h * (1 + s / (6 * h)) / (8 * 150e12);
  const double reduce = 2.0 * 1 / 2 * 12 * h * h * 2 * 10 / (1600e9 / 8) + 2 * 1 * 2e-6;
  EXPECT_NEAR(e.pipeline_s, 8 * 10 * layer, 1e-12);
  EXPECT_NEAR(e.allreduce_s, reduce, 1e-12);
  EXPECT_NEAR(e.iteration_s, 8 * 10 * layer + reduce, 1e-12);
  EXPECT_EQ(e.bubble_s, 0);
  EXPECT_EQ(e.stage_class, std::vector<std::string>{"ib"});
}

TEST(IterationModelTest, AStageSpanningTwoGroupsReducesOverEthernetAndEthernetIsSlowest) {
  const PlacementProblem ib = Problem(1, 4, {"ib", "ib", "ib", "ib"});
  const PlacementProblem mixed = Problem(1, 4, {"ib", "ib", "roce", "roce"});
  const PlacementProblem eth = Problem(1, 4, {"ethernet", "ethernet", "ethernet", "ethernet"});
  const Layout l{{0, 1, 2, 3}, {24}};
  EXPECT_EQ(Estimate(mixed, l).stage_class, std::vector<std::string>{"ethernet"});
  EXPECT_LT(Time(ib, l), Time(eth, l));
  EXPECT_NEAR(Time(mixed, l), Time(eth, l), 1e-12);
  // The same class on two islands meets over Ethernet too.
  PlacementProblem islands = ib;
  islands.nodes[2].island = islands.nodes[3].island = "b";
  EXPECT_EQ(Estimate(islands, l).stage_class, std::vector<std::string>{"ethernet"});
}

TEST(IterationModelTest, TheLayerSplitIsTheBestOfEveryComposition) {
  std::mt19937 rng(7);
  const std::vector<std::string> classes = {"ib", "roce", "ethernet"};
  for (int trial = 0; trial < 30; ++trial) {
    const int pp = 2 + trial % 3, dp = 1 + trial % 2;
    std::vector<std::string> nics;
    for (int i = 0; i < pp * dp; ++i) nics.push_back(classes[rng() % 3]);
    PlacementProblem p = Problem(pp, dp, nics);
    p.job.layers = pp + static_cast<int>(rng() % 10);
    p.job.micro_batches = 1 + static_cast<int>(rng() % 16);
    p.job.hidden = 1024 << (rng() % 3);
    std::vector<int> at(pp * dp);
    std::iota(at.begin(), at.end(), 0);
    const double got = Time(p, {at, SplitLayers(p, at)});
    // Every composition of the layers into pp parts of at least one.
    double best = 1e300;
    std::vector<int> parts(pp, 1);
    std::function<void(int, int)> walk = [&](int stage, int left) {
      if (stage == pp - 1) {
        parts[stage] = left;
        best = std::min(best, Time(p, {at, parts}));
        return;
      }
      for (int l = 1; l <= left - (pp - 1 - stage); ++l) {
        parts[stage] = l;
        walk(stage + 1, left - l);
      }
    };
    walk(0, p.job.layers);
    EXPECT_NEAR(got, best, best * 1e-9) << "trial " << trial;
  }
}

TEST(PlacementTest, DataParallelGroupsStayInOneClassAndTheFasterStageTakesMoreLayers) {
  // Interleaved names: rank order would put both classes into every data-parallel group.
  PlacementProblem p = Problem(2, 4, {"ib", "ethernet", "ib", "ethernet", "ib", "ethernet", "ib", "ethernet"});
  const Layout nic = PlaceNicAware(p).value();
  const IterationEstimate e = Estimate(p, nic);
  std::vector<std::string> classes = e.stage_class;
  std::sort(classes.begin(), classes.end());
  EXPECT_EQ(classes, (std::vector<std::string>{"ethernet", "ib"}));
  const int ib_stage = e.stage_class[0] == "ib" ? 0 : 1;
  EXPECT_GT(nic.layers[ib_stage], nic.layers[1 - ib_stage]);
  EXPECT_EQ(nic.layers[0] + nic.layers[1], 24);
  const Layout rank = PlaceRankOrder(p);
  EXPECT_EQ(Estimate(p, rank).stage_class, (std::vector<std::string>{"ethernet", "ethernet"}));
  EXPECT_LT(Time(p, nic), Time(p, rank) * 0.9);
}

TEST(PlacementTest, SurplusNodesAreTheFastestOnes) {
  PlacementProblem p = Problem(2, 2, {"ethernet", "ethernet", "roce", "roce", "ib", "ib", "ethernet"});
  const Layout l = PlaceNicAware(p).value();
  std::vector<std::string> used;
  for (int n : l.nodes) used.push_back(p.nodes[n].nic);
  std::sort(used.begin(), used.end());
  EXPECT_EQ(used, (std::vector<std::string>{"ib", "ib", "roce", "roce"}));
}

// Every way to put job.nodes() of the candidates at the positions, each with its best split.
double ExhaustiveOptimum(const PlacementProblem& p) {
  std::vector<int> perm(p.nodes.size());
  std::iota(perm.begin(), perm.end(), 0);
  double best = 1e300;
  do {
    std::vector<int> at(perm.begin(), perm.begin() + p.job.nodes());
    best = std::min(best, Time(p, {at, SplitLayers(p, at)}));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(PlacementTest, OnSmallClustersWithinTwoPercentOfTheExhaustiveOptimum) {
  std::mt19937 rng(11);
  const std::vector<std::string> classes = {"ib", "roce", "ethernet"};
  const std::vector<std::pair<int, int>> shapes = {{2, 2}, {3, 2}, {2, 3}, {4, 2}, {2, 4}, {3, 1}, {1, 4}};
  double worst = 0;
  for (int trial = 0; trial < 42; ++trial) {
    const auto [pp, dp] = shapes[trial % shapes.size()];
    const int n = std::min(8, pp * dp + static_cast<int>(rng() % 3));
    std::vector<std::string> nics;
    for (int i = 0; i < n; ++i) nics.push_back(classes[rng() % 3]);
    PlacementProblem p = Problem(pp, dp, nics);
    if (rng() % 3 == 0) p.nodes[rng() % n].island = "b";  // a second island of that class
    p.job.layers = 8 + static_cast<int>(rng() % 17);
    p.job.micro_batches = 1 + static_cast<int>(rng() % 16);
    p.job.hidden = 1024 << (rng() % 3);
    p.job.seq_len = 512 << (rng() % 3);
    const double optimum = ExhaustiveOptimum(p);
    const double placed = Time(p, PlaceNicAware(p).value());
    worst = std::max(worst, placed / optimum);
    EXPECT_LE(placed, optimum * 1.02) << "trial " << trial << ": pp " << pp << " dp " << dp << " over " << n << " nodes";
  }
  std::printf("worst placed/optimum over the small clusters: %.4f\n", worst);
}

TEST(PlacementTest, TheSpareKeepsTheModelledTimeLowest) {
  PlacementProblem p = Problem(2, 2, {"ib", "ib", "roce", "roce", "ethernet", "roce", "ib"});
  const Layout l = PlaceNicAware(p).value();
  const int ib_position = p.nodes[l.nodes[0]].nic == "ib" ? 0 : 2;  // a position in the IB stage
  // The IB spare keeps the stage's all-reduce on IB; the RoCE one and the Ethernet one do not.
  EXPECT_EQ(ChooseSpare(p, l, ib_position, {4, 5, 6}), 6);
  EXPECT_EQ(ChooseSpare(p, l, ib_position, {4, 5}), 4);  // both put the all-reduce on Ethernet: the first
  EXPECT_EQ(ChooseSpare(p, l, ib_position, {}), std::nullopt);
}

TEST(PlacementTest, BadProblemsAreRefusedNamingWhatIsWrong) {
  PlacementProblem p = Problem(2, 2, {"ib", "ib", "ib", "omnipath"});
  EXPECT_NE(PlaceNicAware(p).status().message().find("node n3 has NIC class 'omnipath'"), std::string::npos);
  p = Problem(2, 2, {"ib", "ib", "ib"});
  EXPECT_NE(PlaceNicAware(p).status().message().find("needs 4 nodes"), std::string::npos);
  p = Problem(4, 1, {"ib", "ib", "ib", "ib"});
  p.job.layers = 3;
  EXPECT_NE(PlaceNicAware(p).status().message().find("3 layers for 4 pipeline stages"), std::string::npos);
  p = Problem(1, 1, {"ib"});
  p.fabric.between_groups = "myrinet";
  EXPECT_NE(PlaceNicAware(p).status().message().find("'myrinet'"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::netplan
