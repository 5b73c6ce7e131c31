// Traffic planning, pure: topology files read strictly, collective flows, the switch hash,
// and the planner's promises checked as properties over random fabrics and placements —
// split, the maximum link load is the spraying bound; whole, at most the ceiling bound;
// never a flow over a failed link; every source port steers its share where the plan says;
// and ECMP's load matches balls into bins.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "netplan/netplan.h"

namespace bulwark::netplan {
namespace {

std::string TopologyError(const std::string& yaml) {
  auto t = ParseTopology(yaml, "fabric.yaml");
  return t.ok() ? "(accepted)" : t.status().message();
}

TEST(TopologyTest, AGeneratedRailOptimizedFabricCablesEveryRailToItsLeaf) {
  FabricShape shape;
  shape.hosts = 8;
  shape.nics_per_host = 4;
  shape.hosts_per_leaf = 4;
  shape.spines = 3;
  const Topology t = MakeFabric(shape);
  EXPECT_EQ(t.hosts.size(), 8u);
  EXPECT_EQ(t.leaves.size(), 8u) << "2 groups x 4 rails";
  EXPECT_EQ(t.nics[t.host_nics[5][2]].leaf, t.nics[t.host_nics[6][2]].leaf) << "same group, same rail";
  EXPECT_NE(t.nics[t.host_nics[5][2]].leaf, t.nics[t.host_nics[5][1]].leaf) << "rails have leaves of their own";
  EXPECT_TRUE(t.Usable(0, 2));
  shape.kind = FabricKind::kDualPlane;
  const Topology dual = MakeFabric(shape);
  EXPECT_EQ(dual.spines.size(), 6u);
  EXPECT_FALSE(dual.Usable(dual.nics[dual.host_nics[0][1]].leaf, dual.SpinesOf(0)[0])) << "plane 1's leaf never reaches plane 0";
}

TEST(TopologyTest, AFileIsReadWithItsLinksAndErrorsNameTheLineAndElement) {
  auto t = ParseTopology(
      "name: lab\nlink_gbps: 200\n"
      "spines: [{name: s0}, {name: s1}]\n"
      "leaves: [{name: l0}, {name: l1}]\n"
      "hosts:\n"
      "  - {name: a, nics: [{leaf: l0, gbps: 200}]}\n"
      "  - {name: b, nics: [{leaf: l1}]}\n"
      "links: [{leaf: l1, spine: s1, failed: true}, {leaf: l0, spine: s0, gbps: 100}]\n",
      "lab.yaml");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->name, "lab");
  EXPECT_EQ(t->Link(0, 0), 100);
  EXPECT_EQ(t->Link(0, 1), 200);
  EXPECT_FALSE(t->Usable(1, 1));
  EXPECT_EQ(t->nics[t->host_nics[1][0]].leaf, 1);

  const std::string base = "spines: [{name: s0}]\nleaves: [{name: l0}]\n";
  EXPECT_NE(TopologyError(base + "hosts:\n  - {name: a, nics: [{leaf: l9}]}\n").find("fabric.yaml:4"), std::string::npos);
  EXPECT_NE(TopologyError(base + "hosts:\n  - {name: a, nics: [{leaf: l9}]}\n").find("no leaf named 'l9'"), std::string::npos);
  EXPECT_NE(TopologyError(base + "hosts: [{name: a, nics: [{leaf: l0}]}]\nlinks: [{leaf: l0, spine: s7}]\n").find("no spine named 's7'"),
            std::string::npos);
  EXPECT_NE(TopologyError("spines: [{name: s0}, {name: s0}]\nleaves: [{name: l0}]\nhosts: [{name: a, nics: [{leaf: l0}]}]\n")
                .find("spine 's0' is listed twice"), std::string::npos);
  EXPECT_NE(TopologyError(base + "hosts: [{name: a, nics: [{leaf: l0, speed: 1}]}]\n").find("speed"), std::string::npos)
      << "an unknown key is named";
  EXPECT_NE(TopologyError("generate: {kind: torus, hosts: 4}\n").find("generate.kind"), std::string::npos);
}

TEST(FlowsTest, RingsTreesHalvingDoublingAllToAllAndPipelines) {
  FabricShape shape;
  shape.hosts = 8;
  shape.nics_per_host = 2;
  shape.hosts_per_leaf = 2;
  const Topology t = MakeFabric(shape);
  std::vector<int> placement(8);
  std::iota(placement.begin(), placement.end(), 0);
  Collective c;
  c.bytes = 1600;
  c.channels_per_nic = 2;
  auto ring = CollectiveFlows(t, placement, c);
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0].flows.size(), 4u * 8) << "4 channels, a hop per host";
  EXPECT_DOUBLE_EQ(ring[0].flows[0].bytes, 2.0 * 1600 / 4 * 15 / 16) << "2(N-1)/N of a channel's share, N = 16 GPUs";
  EXPECT_EQ(t.nics[ring[0].flows[0].src_nic].rail, 0);
  EXPECT_EQ(t.nics[ring[0].flows[8].src_nic].rail, 1) << "channel 1 crosses on rail 1";
  c.kind = CollectiveKind::kAllReduceTree;
  EXPECT_EQ(CollectiveFlows(t, placement, c)[0].flows.size(), 4u * 7 * 2) << "7 tree edges, both ways, per channel";
  c.kind = CollectiveKind::kHalvingDoubling;
  const auto hd = CollectiveFlows(t, placement, c);
  ASSERT_EQ(hd.size(), 6u) << "3 halving and 3 doubling steps for 8 hosts";
  EXPECT_DOUBLE_EQ(hd[2].flows[0].bytes, 400);
  c.kind = CollectiveKind::kAllToAll;
  EXPECT_EQ(CollectiveFlows(t, placement, c)[0].flows.size(), 8u * 7 * 2);
  c.kind = CollectiveKind::kPipeline;
  c.stages = 4;
  EXPECT_EQ(CollectiveFlows(t, placement, c)[0].flows.size(), 3u * 2 * 2) << "3 stage boundaries x 2 hosts x 2 rails";
  EXPECT_FALSE(CollectiveKindFromName("allreduse").ok());
}

// Random fabric, random job placement on it, one collective's flows.
struct Case {
  Topology topology;
  Phase phase;
};

Case RandomCase(std::mt19937& rng, bool allow_failure = false) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  FabricShape shape;
  shape.kind = static_cast<FabricKind>(pick(0, 2));
  shape.nics_per_host = pick(shape.kind == FabricKind::kDualPlane ? 2 : 1, 4);
  shape.hosts_per_leaf = pick(2, 8);
  shape.hosts = pick(4, 48);
  shape.spines = pick(2, 8);
  Case c{MakeFabric(shape), {}};
  std::vector<int> hosts(shape.hosts);
  std::iota(hosts.begin(), hosts.end(), 0);
  std::shuffle(hosts.begin(), hosts.end(), rng);
  hosts.resize(pick(2, shape.hosts));
  Collective coll;
  coll.channels_per_nic = pick(1, 3);
  coll.kind = pick(0, 1) ? CollectiveKind::kAllReduceRing : CollectiveKind::kAllReduceTree;
  c.phase = CollectiveFlows(c.topology, hosts, coll)[0];
  if (allow_failure) {
    const int leaf = pick(0, static_cast<int>(c.topology.leaves.size()) - 1);
    const auto spines = c.topology.SpinesOf(c.topology.leaves[leaf].plane);
    c.topology.SetFailed(leaf, spines[pick(0, static_cast<int>(spines.size()) - 1)], true);
  }
  return c;
}

// Every share on a usable link, fractions summing to one, and its port steering the leaf's
// hash onto its spine.
void ExpectSound(const Case& c, const Plan& plan, const SwitchHash& hash) {
  const Topology& t = c.topology;
  for (size_t i = 0; i < c.phase.flows.size(); ++i) {
    const Flow& f = c.phase.flows[i];
    const FlowRoute& r = plan.routes[i];
    const int sl = t.nics[f.src_nic].leaf, dl = t.nics[f.dst_nic].leaf;
    if (sl == dl) {
      EXPECT_TRUE(r.paths.empty());
      continue;
    }
    if (r.unroutable) continue;
    double sum = 0;
    const auto group = EcmpGroup(t, sl, dl);
    for (const PathShare& p : r.paths) {
      ASSERT_TRUE(t.Usable(sl, p.spine) && t.Usable(dl, p.spine)) << "flow " << i << " crosses a failed link";
      sum += p.fraction;
      FiveTuple tuple{NicAddress(t, f.src_nic), NicAddress(t, f.dst_nic), p.src_port};
      ASSERT_NE(p.src_port, 0);
      EXPECT_EQ(group[hash(tuple) % group.size()], p.spine) << "the source port steers flow " << i;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9) << "flow " << i;
  }
}

TEST(PlannerPropertyTest, SplitTheMaximumLoadIsTheSprayingBoundWholeAtMostTheCeilingBound) {
  std::mt19937 rng(20261206);
  PlanOptions whole;
  whole.split = false;
  for (int trial = 0; trial < 150; ++trial) {
    const Case c = RandomCase(rng);
    const Plan split = PlanPhase(c.topology, c.phase);
    ASSERT_TRUE(split.exact) << "equal flows on equal links";
    ExpectSound(c, split, PlanOptions{}.hash);
    EXPECT_NEAR(split.max_load_s, split.bound_s, 1e-9 * split.bound_s) << "trial " << trial;
    EXPECT_LE(split.split_flows, c.phase.flows.size());
    const Plan unsplit = PlanPhase(c.topology, c.phase, whole);
    ExpectSound(c, unsplit, whole.hash);
    EXPECT_EQ(unsplit.split_flows, 0u);
    EXPECT_LE(unsplit.max_load_s, CeilingBound(c.topology, c.phase) * (1 + 1e-9)) << "trial " << trial;
    EXPECT_GE(unsplit.max_load_s, split.bound_s * (1 - 1e-9));
  }
}

TEST(PlannerPropertyTest, AFailedLinkCarriesNothingAndAReplanMovesOnlyTheFlowsOnIt) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 150; ++trial) {
    Case c = RandomCase(rng);
    Plan plan = PlanPhase(c.topology, c.phase);
    // Fail a link that carries something, if any does.
    const LinkLoads loads = Loads(c.topology, c.phase, plan.routes);
    const auto busiest = std::max_element(loads.up.begin(), loads.up.end()) - loads.up.begin();
    if (loads.up[busiest] == 0) continue;
    const int leaf = static_cast<int>(busiest / c.topology.spines.size()), spine = static_cast<int>(busiest % c.topology.spines.size());
    size_t on_link = 0;
    for (size_t i = 0; i < c.phase.flows.size(); ++i) {
      for (const PathShare& p : plan.routes[i].paths) on_link += p.spine == spine && (c.topology.nics[c.phase.flows[i].src_nic].leaf == leaf || c.topology.nics[c.phase.flows[i].dst_nic].leaf == leaf);
    }
    const Plan before = plan;
    c.topology.SetFailed(leaf, spine, true);
    const size_t moved = Replan(c.topology, c.phase, &plan);
    EXPECT_GT(moved, 0u);
    EXPECT_LE(moved, on_link);
    ExpectSound(c, plan, PlanOptions{}.hash);
    size_t changed = 0;
    for (size_t i = 0; i < plan.routes.size(); ++i) {
      bool same = plan.routes[i].paths.size() == before.routes[i].paths.size();
      for (size_t k = 0; same && k < plan.routes[i].paths.size(); ++k) same = plan.routes[i].paths[k].spine == before.routes[i].paths[k].spine;
      changed += !same;
    }
    EXPECT_LE(changed, moved) << "only the flows on the failed link move";
    EXPECT_GE(plan.max_load_s, plan.bound_s * (1 - 1e-9));
  }
}

TEST(PlannerPropertyTest, WithAFailedLinkFromTheStartNoFlowCrossesIt) {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 150; ++trial) {
    const Case c = RandomCase(rng, true);
    for (bool split : {true, false}) {
      PlanOptions o;
      o.split = split;
      const Plan plan = PlanPhase(c.topology, c.phase, o);
      ExpectSound(c, plan, o.hash);
      EXPECT_GE(plan.max_load_s, plan.bound_s * (1 - 1e-9));
    }
  }
}

TEST(PlannerTest, UnequalFlowsAreSplitOnlyWhereTheyDoNotFit) {
  FabricShape shape;
  shape.kind = FabricKind::kTwoTier;
  shape.hosts = 4;
  shape.nics_per_host = 1;
  shape.hosts_per_leaf = 2;
  shape.spines = 2;
  const Topology t = MakeFabric(shape);
  // Leaf 0 sends 3 units and 1 unit to leaf 1: the bound is 2 units per uplink; the 3 must split.
  Phase p{"mixed", {{t.host_nics[0][0], t.host_nics[2][0], 0, 3e9}, {t.host_nics[1][0], t.host_nics[3][0], 0, 1e9}}};
  const Plan plan = PlanPhase(t, p);
  EXPECT_FALSE(plan.exact);
  EXPECT_NEAR(plan.max_load_s, plan.bound_s, 1e-12);
  EXPECT_EQ(plan.split_flows, 1u);
  EXPECT_EQ(plan.routes[1].paths.size(), 1u) << "the small flow stays whole";
}

// E[max load] of n balls thrown into m bins, exactly: P(max <= k) counts the ways with
// every bin at most k (a coefficient of (sum_{j<=k} x^j/j!)^m) over m^n.
double ExpectedMaxLoad(int n, int m) {
  double expected = 0;
  for (int k = 0; k < n; ++k) {
    std::vector<double> poly(n + 1, 0);
    poly[0] = 1;
    for (int bin = 0; bin < m; ++bin) {
      std::vector<double> next(n + 1, 0);
      for (int a = 0; a <= n; ++a) {
        double inv_fact = 1;
        for (int j = 0; j <= k && a + j <= n; ++j) {
          if (j > 0) inv_fact /= j;
          next[a + j] += poly[a] * inv_fact;
        }
      }
      poly = next;
    }
    double ways = poly[n];
    for (int i = 2; i <= n; ++i) ways *= i;
    expected += 1 - ways / std::pow(m, n);
  }
  return expected;
}

TEST(EcmpTest, HashedFlowsLoadSpinesAsBallsIntoBins) {
  EXPECT_NEAR(ExpectedMaxLoad(2, 2), 1.5, 1e-12);
  for (const auto& [flows, spines] : std::vector<std::pair<int, int>>{{8, 8}, {32, 8}, {64, 32}}) {
    FabricShape shape;
    shape.kind = FabricKind::kTwoTier;
    shape.hosts = 2 * flows;
    shape.nics_per_host = 1;
    shape.hosts_per_leaf = flows;
    shape.spines = spines;
    const Topology t = MakeFabric(shape);
    double total = 0;
    const int trials = 3000;
    for (int trial = 0; trial < trials; ++trial) {
      Phase p;
      for (int i = 0; i < flows; ++i) p.flows.push_back({t.host_nics[i][0], t.host_nics[flows + i][0], trial, 1e6});
      const Plan ecmp = EcmpPhase(t, p);
      total += ecmp.max_load_s / (8e6 / 400e9);  // in flows
    }
    const double mean = total / trials, want = ExpectedMaxLoad(flows, spines);
    EXPECT_NEAR(mean, want, 0.06 * want) << flows << " flows over " << spines << " spines";
  }
}

TEST(FlowModelTest, ThePhaseTakesAsLongAsItsBusiestLinkAndPlanningShortensIt) {
  FabricShape shape;
  shape.kind = FabricKind::kTwoTier;
  shape.hosts = 16;
  shape.nics_per_host = 1;
  shape.hosts_per_leaf = 8;
  shape.spines = 8;
  const Topology t = MakeFabric(shape);
  Phase p;
  for (int i = 0; i < 8; ++i) p.flows.push_back({t.host_nics[i][0], t.host_nics[8 + i][0], 0, 50e6});
  const double one_flow = 50e6 * 8 / 400e9;
  const Plan plan = PlanPhase(t, p);
  EXPECT_NEAR(PredictCompletion(t, p, plan.routes), one_flow, 1e-12) << "one flow per spine: NIC speed";
  EXPECT_NEAR(IdealCompletion(t, p), one_flow, 1e-12);
  const Plan ecmp = EcmpPhase(t, p);
  EXPECT_NEAR(PredictCompletion(t, p, ecmp.routes), ecmp.max_load_s, 1e-12) << "collisions: the busiest uplink decides";
  // Two flows forced onto one spine share it evenly.
  std::vector<FlowRoute> both(8);
  for (auto& r : both) r.paths = {{0, 1, 0}};
  EXPECT_NEAR(PredictCompletion(t, p, both), 8 * one_flow, 1e-12);
  // A flow split 3:1 over two spines is paced so its shares end together: NIC speed.
  Phase alone{"one", {p.flows[0]}};
  EXPECT_NEAR(PredictCompletion(t, alone, {{{{0, 0.75, 0}, {1, 0.25, 0}}, false}}), one_flow, 1e-12);
}

}  // namespace
}  // namespace bulwark::netplan
