// The names and addresses `cluster up --netns` gives a cluster's nodes (the pure plan; the
// namespaces themselves are made in tests/e2e/netns_e2e_test.cpp).
#include "controller/ctl_netns.h"

#include <gtest/gtest.h>

#include <set>

namespace bulwark::ctl {
namespace {

TEST(NetnsPlanTest, EveryNameFitsAnInterfaceAndCarriesTheClusterId) {
  const NetnsPlan plan = PlanNetns("0a1b2c3d", {"node-01", "node-02", "spare-01"}, 0);
  EXPECT_EQ(plan.bridge, "bwbr-0a1b2c3d");
  EXPECT_EQ(plan.netns_prefix, "bulwark-0a1b2c3d-");
  ASSERT_EQ(plan.nodes.size(), 3u);
  EXPECT_EQ(plan.nodes[2].netns, "bulwark-0a1b2c3d-spare-01");
  EXPECT_EQ(plan.nodes[2].host_link, "bw0a1b2c3d-3");
  std::set<std::string> addresses;
  for (const auto& n : plan.nodes) {
    EXPECT_LE(n.host_link.size(), 15u) << "IFNAMSIZ";
    addresses.insert(n.address);
  }
  EXPECT_LE(plan.bridge.size(), 15u);
  EXPECT_EQ(addresses.size(), 3u);
  EXPECT_EQ(plan.nodes[0].address.substr(0, plan.nodes[0].address.rfind('.')),
            plan.bridge_address.substr(0, plan.bridge_address.rfind('.')))
      << "one subnet: the nodes and the controller's bridge";
}

TEST(NetnsPlanTest, SubnetsStayInTheBenchmarkRangeAndMoveOnWhenTaken) {
  std::set<std::string> bridges;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const NetnsPlan plan = PlanNetns("ffffffff", {"node-01"}, attempt);
    EXPECT_TRUE(plan.bridge_address.rfind("198.18.", 0) == 0 || plan.bridge_address.rfind("198.19.", 0) == 0) << plan.bridge_address;
    bridges.insert(plan.bridge_address);
  }
  EXPECT_EQ(bridges.size(), 64u) << "each attempt another /24";
  const std::vector<std::string> many(240, "n");
  EXPECT_EQ(PlanNetns("00000000", many, 0).nodes.back().address.substr(PlanNetns("00000000", many, 0).nodes.back().address.rfind('.') + 1),
            "250");
}

TEST(NetnsPlanTest, APlanReadsBackFromItsRecord) {
  const NetnsPlan plan = PlanNetns("12345678", {"node-01", "spare-01"}, 3);
  const NetnsPlan back = NetnsPlanFromJson(ToJson(plan));
  EXPECT_EQ(ToJson(back), ToJson(plan));
  EXPECT_EQ(back.nodes[1].address, plan.nodes[1].address);
}

}  // namespace
}  // namespace bulwark::ctl
