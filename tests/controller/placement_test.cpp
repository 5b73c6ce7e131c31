// Placement and spare choice: pure, on hand-built candidate lists.
#include "controller/placement.h"

#include <gtest/gtest.h>

namespace bulwark::controller {
namespace {

PlacementCandidate Node(const std::string& name, const std::string& domain, const std::string& nic = "ethernet",
                        bool spare = false) {
  return {name, domain, {nic}, spare};
}

TEST(PlacementTest, PacksIntoFewDomainsAndLeavesSparesAlone) {
  std::vector<PlacementCandidate> free = {Node("a1", "rack-a"), Node("b1", "rack-b"), Node("b2", "rack-b"),
                                          Node("b3", "rack-b"), Node("s1", "rack-a", "ethernet", true)};
  auto placed = PlaceJob(3, "any", free);
  ASSERT_TRUE(placed.ok()) << placed.status().message();
  EXPECT_EQ(placed.value(), (std::vector<std::string>{"b1", "b2", "b3"}));
  placed = PlaceJob(4, "any", free);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed.value(), (std::vector<std::string>{"a1", "b1", "b2", "b3"}));
}

TEST(PlacementTest, NicClassFiltersAndTheErrorSaysHowManyQualify) {
  std::vector<PlacementCandidate> free = {Node("i1", "r", "ib"), Node("e1", "r", "ethernet"), Node("i2", "r", "ib")};
  auto placed = PlaceJob(2, "ib", free);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed.value(), (std::vector<std::string>{"i1", "i2"}));
  placed = PlaceJob(3, "ib", free);
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.status().message(), "needs 3 free healthy worker nodes with NIC class 'ib'; 2 qualify");
}

TEST(PlacementTest, ReplacementPrefersASpareInAnotherDomainWithTheRightNic) {
  std::vector<PlacementCandidate> free = {Node("w9", "rack-c"), Node("s-same", "rack-a", "ethernet", true),
                                          Node("s-other", "rack-b", "ethernet", true),
                                          Node("s-ib", "rack-c", "ib", true)};
  // The fenced node was in rack-a; the job's other nodes are in rack-a and rack-b.
  EXPECT_EQ(ChooseReplacement("ethernet", "rack-a", {"rack-a", "rack-b"}, free), "s-other");
  // A spare in the fenced node's domain still beats a free worker.
  free.erase(free.begin() + 2);
  EXPECT_EQ(ChooseReplacement("ethernet", "rack-a", {"rack-a", "rack-b"}, free), "s-same");
  // The right NIC matters more than anything.
  EXPECT_EQ(ChooseReplacement("ib", "rack-a", {"rack-a"}, free), "s-ib");
  EXPECT_EQ(ChooseReplacement("roce", "rack-a", {"rack-a"}, free), std::nullopt);
  // Without spares, a free worker takes the place.
  EXPECT_EQ(ChooseReplacement("ethernet", "rack-a", {"rack-a"}, {Node("w9", "rack-c")}), "w9");
}

}  // namespace
}  // namespace bulwark::controller
