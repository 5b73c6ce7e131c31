#include "snapshot/protection_plan.h"

#include <gtest/gtest.h>

#include <map>

namespace bulwark::snapshot {
namespace {

std::vector<PlanNode> Racks(int nodes, int racks) {
  std::vector<PlanNode> out;
  for (int i = 0; i < nodes; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "node-%02d", i + 1);
    out.push_back({name, "rack-" + std::to_string(i % racks + 1)});
  }
  return out;
}

std::map<std::string, std::string> DomainOf(const std::vector<PlanNode>& nodes) {
  std::map<std::string, std::string> d;
  for (const auto& n : nodes) d[n.name] = n.domain;
  return d;
}

TEST(ProtectionPlanTest, GroupsSpanRacksAndParityLivesOutsideItsGroupEvenlySpread) {
  const auto nodes = Racks(16, 4);
  auto plan = PlanProtection(nodes, 4, 2);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->groups.size(), 4u);
  const auto domain = DomainOf(nodes);
  std::map<std::string, int> parity_load, data_count;
  for (const auto& g : plan->groups) {
    ASSERT_EQ(g.data.size(), 4u);
    ASSERT_EQ(g.parity.size(), 2u);
    std::set<std::string> racks;
    for (const auto& n : g.data) {
      racks.insert(domain.at(n));
      ++data_count[n];
    }
    EXPECT_EQ(racks.size(), 4u) << "group " << g.id << " spans all four racks";
    for (const auto& p : g.parity) {
      EXPECT_EQ(std::count(g.data.begin(), g.data.end(), p), 0) << "parity of group " << g.id << " on a member";
      ++parity_load[p];
    }
    EXPECT_NE(domain.at(g.parity[0]), domain.at(g.parity[1])) << "a group's two parity holders in different racks";
  }
  EXPECT_EQ(data_count.size(), 16u) << "every node's shard is protected exactly once";
  for (const auto& [node, load] : parity_load) EXPECT_LE(load, 1) << node << " holds more than its share";
  EXPECT_EQ(parity_load.size(), 8u);
}

TEST(ProtectionPlanTest, SmallClustersShrinkGroupsAndTooSmallOnesAreRefused) {
  auto plan = PlanProtection(Racks(4, 2), 4, 2);
  ASSERT_TRUE(plan.ok());
  for (const auto& g : plan->groups) {
    EXPECT_LE(g.data.size(), 2u) << "with 4 nodes and m = 2, groups hold 2 so parity fits outside";
    for (const auto& p : g.parity) EXPECT_EQ(std::count(g.data.begin(), g.data.end(), p), 0);
  }
  EXPECT_EQ(PlanProtection(Racks(2, 1), 4, 2).status().message(),
            "RS(4,2) needs at least 3 nodes (parity lives outside its group); got 2");
  auto twice = Racks(3, 1);
  twice.push_back(twice[0]);
  EXPECT_EQ(PlanProtection(twice, 2, 1).status().message(), "node 'node-01' is listed twice");
}

TEST(ProtectionPlanTest, RebuildsUpToMLossesPerGroupAndNamesWhatCannotComeBack) {
  const auto nodes = Racks(12, 3);
  auto plan = PlanProtection(nodes, 4, 2).value();
  const ProtectionGroup& g = plan.groups[0];
  // One data node lost.
  auto one = PlanRebuild(plan, {g.data[1]});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].lost_node, g.data[1]);
  EXPECT_EQ((*one)[0].block, 1);
  ASSERT_EQ((*one)[0].fetch.size(), 4u);
  for (const auto& f : (*one)[0].fetch) EXPECT_NE(f.node, g.data[1]);
  EXPECT_EQ((*one)[0].fetch[0], (Fetch{0, g.data[0]})) << "surviving data blocks first";
  // m = 2 losses in one group: a data node and a parity holder.
  auto two = PlanRebuild(plan, {g.data[0], g.parity[0]});
  ASSERT_TRUE(two.ok()) << two.status().message();
  ASSERT_EQ(two->size(), 2u) << "the parity holder's own shard, in its own group, is rebuilt too";
  for (const auto& r : *two) {
    if (r.lost_node == g.data[0]) {
      EXPECT_EQ(r.fetch.back(), (Fetch{5, g.parity[1]}));
    }
  }
  // m + 1 = 3 losses in one group: refused, naming the shards that cannot be rebuilt.
  auto three = PlanRebuild(plan, {g.data[0], g.data[2], g.parity[1]});
  ASSERT_FALSE(three.ok());
  const std::string group0 = "group 0 lost 3 of its blocks (data of " + g.data[0] + ", " + g.data[2] + "; parity on " +
                             g.parity[1] + "), RS(4,2) rebuilds at most 2: the shards of " + g.data[0] + ", " +
                             g.data[2] + " cannot be rebuilt";
  EXPECT_EQ(three.status().message().rfind(group0, 0), 0u) << three.status().message();
  // A whole rack (4 of 12 nodes) lost: every group loses one member at most.
  std::set<std::string> rack;
  for (const auto& n : nodes)
    if (n.domain == "rack-2") rack.insert(n.name);
  auto racked = PlanRebuild(plan, rack);
  ASSERT_TRUE(racked.ok()) << racked.status().message();
  EXPECT_EQ(racked->size(), 4u);
}

TEST(ProtectionPlanTest, AShortLastGroupUsesZeroBlocksAsFreeFragments) {
  auto plan = PlanProtection(Racks(6, 2), 4, 1).value();
  ASSERT_EQ(plan.groups.size(), 2u);
  const ProtectionGroup& last = plan.groups[1];
  ASSERT_EQ(last.data.size(), 2u);
  auto r = PlanRebuild(plan, {last.data[0]});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& fetch = r->at(0).fetch;
  ASSERT_EQ(fetch.size(), 4u);
  EXPECT_EQ(fetch[1], (Fetch{2, ""})) << "blocks 2 and 3 are padding zeros";
  EXPECT_EQ(fetch[2], (Fetch{3, ""}));
  EXPECT_EQ(fetch[3], (Fetch{4, last.parity[0]}));
  uint32_t group;
  int block;
  ASSERT_TRUE(plan.Find(last.data[1], &group, &block));
  EXPECT_EQ(group, 1u);
  EXPECT_EQ(block, 1);
  EXPECT_FALSE(plan.Find("nobody", &group, &block));
}

}  // namespace
}  // namespace bulwark::snapshot

namespace bulwark::snapshot {
namespace {

TEST(ProtectionPlanTest, LosingAnyOneRackIsSurvivableWhereverTheShapeAllowsIt) {
  struct Shape {
    int nodes, racks, k, m;
  };
  for (const Shape& s : {Shape{16, 4, 4, 2}, Shape{12, 3, 4, 2}, Shape{24, 6, 8, 2}, Shape{10, 5, 4, 1},
                         Shape{32, 8, 8, 2}, Shape{9, 3, 2, 1}}) {
    SCOPED_TRACE(std::to_string(s.nodes) + " nodes in " + std::to_string(s.racks) + " racks, RS(" +
                 std::to_string(s.k) + "," + std::to_string(s.m) + ")");
    const auto nodes = Racks(s.nodes, s.racks);
    auto plan = PlanProtection(nodes, s.k, s.m);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    for (int r = 1; r <= s.racks; ++r) {
      std::set<std::string> rack;
      for (const auto& n : nodes)
        if (n.domain == "rack-" + std::to_string(r)) rack.insert(n.name);
      auto rebuild = PlanRebuild(*plan, rack);
      EXPECT_TRUE(rebuild.ok()) << "rack-" << r << ": " << rebuild.status().message();
      if (rebuild.ok()) {
        EXPECT_EQ(rebuild->size(), rack.size());
      }
    }
  }
}

}  // namespace
}  // namespace bulwark::snapshot
