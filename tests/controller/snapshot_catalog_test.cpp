// The controller's snapshot catalog: plans once every rank is known, names the step every
// member holds, moves the recovery point only when every member protected a step, lets a
// stand-in take a lost member's place without losing the point, and drops steps of a run
// the job went back from.
#include "controller/snapshot_catalog.h"

#include <gtest/gtest.h>

namespace bulwark::controller {
namespace {

SnapshotReport Report(const std::string& node, std::vector<int> ranks, std::vector<uint64_t> held,
                      std::vector<uint64_t> protected_steps = {}) {
  return {node, node == "a" || node == "b" ? "rack-1" : "rack-2", node + ":1", "job", 4, ranks, protected_steps, held};
}

TEST(SnapshotCatalogTest, PlansOnceEveryRankIsKnownAndNamesTheCommonStep) {
  SnapshotCatalog catalog(2, 1);
  ASSERT_TRUE(catalog.Report(Report("a", {0}, {1, 2})).ok());
  ASSERT_TRUE(catalog.Report(Report("b", {1}, {2, 3})).ok());
  EXPECT_EQ(catalog.View("job").value()["plan_error"], "waiting for 2 of 4 ranks to be reported");
  ASSERT_TRUE(catalog.Report(Report("c", {2}, {2, 3})).ok());
  ASSERT_TRUE(catalog.Report(Report("d", {3}, {2, 3})).ok());
  const auto view = catalog.View("job").value();
  EXPECT_EQ(view["groups"].size(), 2u);
  EXPECT_EQ(view["protect_step"], 2);  // the newest step all four hold
  EXPECT_TRUE(view["recovery_point"].is_null());
}

TEST(SnapshotCatalogTest, TheRecoveryPointIsTheNewestStepEveryMemberProtected) {
  SnapshotCatalog catalog(2, 1);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {4, 5}, {4})).ok());
  auto moved = catalog.Report(Report("d", {3}, {4, 5}, {4}));
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(*moved);
  EXPECT_EQ(catalog.RecoveryPoint("job"), 4u);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {4, 5}, {5, 4})).ok());
  EXPECT_EQ(catalog.RecoveryPoint("job"), 4u);  // d has not protected 5
  ASSERT_TRUE(catalog.Report(Report("d", {3}, {4, 5}, {5, 4})).ok());
  EXPECT_EQ(catalog.RecoveryPoint("job"), 5u);

  // d is lost; e stands in with nothing yet: the point stays (peers can rebuild d's shard).
  // Its holder changed, so the epoch moves even though no step did: agents long-polling
  // on it learn e's address, or they would keep sending d's parity contributions to d.
  SnapshotReport standin = Report("e", {3}, {});
  const uint64_t epoch = catalog.Epoch("job");
  auto standin_moved = catalog.Report(standin);
  ASSERT_TRUE(standin_moved.ok());
  EXPECT_TRUE(*standin_moved);
  EXPECT_GT(catalog.Epoch("job"), epoch);
  EXPECT_EQ(catalog.RecoveryPoint("job"), 5u);
  const auto view = catalog.View("job").value();
  EXPECT_EQ(view["members"][3]["member"], "d");
  EXPECT_EQ(view["members"][3]["node"], "e");
  EXPECT_EQ(view["members"][3]["address"], "e:1");
  EXPECT_FALSE(*catalog.Report(standin)) << "the same report again moves nothing";

  // The job went back to scratch: what the members hold now is below 5 and 4.
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {1})).ok());
  ASSERT_TRUE(catalog.Report(Report("e", {3}, {1})).ok());
  EXPECT_EQ(catalog.RecoveryPoint("job"), std::nullopt);
  EXPECT_EQ(catalog.View("job").value()["protect_step"], 1);
}

// A rank that skipped step 6 (its wait timed out) and committed 7 leaves 6 unprotectable:
// the others are told to drop it, so that every member meets again on step 7.
TEST(SnapshotCatalogTest, AStepSomeMemberSkippedIsAbandoned) {
  SnapshotCatalog catalog(2, 1);
  for (const char* n : {"a", "b", "c", "d"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {4, 5}, {5, 4})).ok());
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {5, 6}, {5, 4})).ok());
  ASSERT_TRUE(catalog.Report(Report("d", {3}, {5, 7}, {5, 4})).ok());
  auto view = catalog.View("job").value();
  EXPECT_EQ(view["abandoned_steps"], nlohmann::json::array({6}));
  EXPECT_EQ(view["protect_step"], 5);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(catalog.Report(Report(n, {n[0] - 'a'}, {5, 7}, {5, 4})).ok());
  view = catalog.View("job").value();
  EXPECT_EQ(view["abandoned_steps"], nlohmann::json::array());
  EXPECT_EQ(view["protect_step"], 7);
}

// A controller restart: the saved catalog comes back with its plan and recovery point,
// though the fenced member (a, whose agent forgot its slots) never reports again, and a
// stand-in for it takes its place as without a restart.
TEST(SnapshotCatalogTest, ASavedCatalogComesBackWithoutTheFencedMembersReport) {
  SnapshotCatalog before(2, 1);
  for (const char* n : {"a", "b", "c", "d"}) ASSERT_TRUE(before.Report(Report(n, {n[0] - 'a'}, {6, 7}, {7, 6})).ok());
  const nlohmann::json saved = before.Saved("job");
  ASSERT_EQ(before.RecoveryPoint("job"), 7u);

  SnapshotCatalog after(2, 1);
  ASSERT_TRUE(after.Restore("job", saved).ok());
  EXPECT_EQ(after.RecoveryPoint("job"), 7u);
  EXPECT_GT(after.Epoch("job"), before.Epoch("job")) << "agents' long-polls wake on the restored view";
  EXPECT_EQ(after.View("job").value()["groups"], before.View("job").value()["groups"]);
  for (const char* n : {"b", "c", "d"}) ASSERT_TRUE(after.Report(Report(n, {n[0] - 'a'}, {6, 7}, {7, 6})).ok());
  EXPECT_EQ(after.RecoveryPoint("job"), 7u);
  // The spare restores rank 0 and reports it: it holds a's member now.
  auto spare = Report("s", {0}, {7}, {});
  spare.domain = "rack-3";
  ASSERT_TRUE(after.Report(spare).ok());
  EXPECT_EQ(after.View("job").value()["members"][0]["node"], "s");
  EXPECT_EQ(after.RecoveryPoint("job"), 7u);

  SnapshotCatalog broken(2, 1);
  nlohmann::json bad = saved;
  bad["members"][1].erase("ranks");
  const Status refused = broken.Restore("job", bad);
  EXPECT_NE(refused.message().find("saved snapshot catalog of job job: "), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("ranks"), std::string::npos) << refused.message();
  EXPECT_FALSE(broken.Knows("job"));
  EXPECT_TRUE(before.Saved("unknown").is_null());
}

TEST(SnapshotCatalogTest, BadReportsAreRefusedWithTheReason) {
  SnapshotCatalog catalog(2, 1);
  EXPECT_EQ(catalog.Report(Report("a", {4}, {})).status().message(), "snapshot report for job job: rank 4 is outside a world of 4");
  EXPECT_EQ(catalog.Report(Report("a", {1, 1}, {})).status().message(), "snapshot report for job job: 'ranks' lists a rank twice");
  EXPECT_EQ(catalog.View("other").status().message(), "no agent has reported snapshots of job 'other'");
  // Too few members for the code: the plan says why.
  SnapshotCatalog single(4, 2);
  ASSERT_TRUE(single.Report({"a", "", "a:1", "solo", 1, {0}, {}, {}}).ok());
  EXPECT_EQ(single.View("solo").value()["plan_error"], "RS(4,2) needs at least 3 nodes (parity lives outside its group); got 1");
}

}  // namespace
}  // namespace bulwark::controller
