// Jobs on the cluster model (real RocksDB, explicit clocks, agents played by the test):
// placement and launch, a crash recovered on a spare through every phase, a controller
// restart in the middle of a recovery, the restart budget, no spare, and an exit no verdict
// explains.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/strict_json.h"
#include "controller/cluster.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

NodeInfo Info(const std::string& name, const std::string& rack, const std::string& role = "worker") {
  NodeInfo info;
  info.name = name;
  info.role = role;
  info.rack = rack;
  info.agent_url = "http://" + name;
  info.nics.push_back({"eth0", "ethernet", 100, 0, "127.0.0.1"});
  return info;
}

ClusterOptions Options() {
  ClusterOptions o;
  o.heartbeat_interval_ms = 1000;
  o.missed_beats = 30;  // the tests move time in seconds without heartbeats
  o.restart_grace_ms = 10000;
  o.launch.mpirun = "/bin/mpirun";
  return o;
}

JobSpec Spec(int restart_budget = 3) {
  return ParseJobSpec({{"name", "train"},
                       {"command", {"/bin/train", "--steps", "100"}},
                       {"nodes", 3},
                       {"restart_budget", restart_budget},
                       {"snapshot", {{"every_steps", 1}, {"k", 2}, {"m", 1}}}});
}

// The agents: n1..n3 workers in two racks, s1 a spare in a third.
void RegisterNodes(Cluster& c) {
  c.Register(Info("n1", "r1"), 1, 0);
  c.Register(Info("n2", "r1"), 1, 0);
  c.Register(Info("n3", "r2"), 1, 0);
  c.Register(Info("s1", "r3", "spare"), 1, 0);
}

// The newest queued command of `kind` on `node`, or nullopt.
std::optional<Command> Newest(const Cluster& c, const std::string& node, const std::string& kind) {
  std::optional<Command> found;
  for (const auto& cmd : c.CommandsAfter(node, 0)) {
    if (cmd.kind == kind && cmd.state == "queued") found = cmd;
  }
  return found;
}

void Ack(Cluster& c, const Command& cmd, int64_t t, bool ok = true) {
  c.CommandResult(cmd.node, cmd.id, {{"ok", ok}, {"result", ok ? json{{"pid", 1}} : json{{"error", "no mpirun"}}}}, t);
}

void AgentEvent(Cluster& c, const std::string& node, const std::string& kind, json detail, int64_t t) {
  c.AgentEvents(node, {{"events", {{{"kind", kind}, {"time_ms", t}, {"detail", detail}}}}}, t, t);
}

// A rank of the job dies on `node`; diagnosis settles it into a crash verdict.
void Crash(Cluster& c, const std::string& node, int rank, int64_t t) {
  AgentEvent(c, node, "rank.ring_lost", {{"rank", rank}, {"pid", 100 + rank}, {"job", "job-000001"}, {"why", "gone"}}, t);
  c.Diagnose(t + 1000, t + 1000);
}

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Acknowledges every queued stop_job, as agents that stopped the job's ranks.
void AckStops(Cluster& c, int64_t t) {
  for (const auto& node : c.Nodes(0)) {
    while (auto stop = Newest(c, node["name"], "stop_job")) Ack(c, *stop, t);
  }
}

TEST(JobRecoveryTest, ACrashIsRecoveredOnTheSpareThroughEveryPhase) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string& job) {
    return job == "job-000001" ? Cluster::SnapshotProgress{41, 42} : Cluster::SnapshotProgress{};
  });
  RegisterNodes(c);

  json job = c.SubmitJob(Spec(), 10);
  EXPECT_EQ(job["state"], "pending");
  EXPECT_EQ(job["placement"], json::array({"n1", "n2", "n3"})) << "workers only; the spare waits";
  auto launch = Newest(c, "n1", "launch_job");
  ASSERT_TRUE(launch) << "the job's first node launches it";
  const auto argv = launch->args["argv"].get<std::vector<std::string>>();
  EXPECT_TRUE(Has(argv, "n2:1"));
  EXPECT_TRUE(Has(argv, "BULWARK_NODE=n3"));
  EXPECT_FALSE(Has(argv, "BULWARK_RESTORE_STEP=41")) << "a first launch restores nothing";
  Ack(c, *launch, 20);
  EXPECT_EQ(c.Job("job-000001")["state"], "running");

  Crash(c, "n2", 1, 100);
  job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "recovering");
  EXPECT_EQ(job["recovery"]["culprits"], json::array({"n2"}));
  EXPECT_EQ(job["recovery"]["phase"], "stop");
  EXPECT_EQ(c.Node("n2", 1100)["health"], "isolated");
  for (const char* n : {"n1", "n2", "n3"}) EXPECT_TRUE(Newest(c, n, "stop_job")) << n;

  AckStops(c, 1200);
  job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["phase"], "relaunch");
  EXPECT_EQ(job["placement"], json::array({"n1", "s1", "n3"})) << "the spare takes n2's ranks, in n2's place";
  launch = Newest(c, "n1", "launch_job");
  ASSERT_TRUE(launch);
  EXPECT_EQ(launch->args["attempt"], 2);
  const auto again = launch->args["argv"].get<std::vector<std::string>>();
  EXPECT_TRUE(Has(again, "s1:1"));
  EXPECT_TRUE(Has(again, "BULWARK_RESTORE_STEP=41"));
  Ack(c, *launch, 1300);
  EXPECT_EQ(c.Job("job-000001")["recovery"]["phase"], "restore");

  // Events of the old attempt are stale; the new attempt's first step ends the recovery.
  AgentEvent(c, "n1", "job.first_step", {{"job", "job-000001"}, {"attempt", 1}, {"step", 2}}, 1350);
  EXPECT_EQ(c.Job("job-000001")["state"], "recovering");
  AgentEvent(c, "n1", "job.restored", {{"job", "job-000001"}, {"attempt", 2}, {"step", 41}}, 2000);
  AgentEvent(c, "n1", "job.first_step", {{"job", "job-000001"}, {"attempt", 2}, {"step", 42}}, 2100);
  job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "running");
  EXPECT_EQ(job["reason"], "recovered from step 41 in 2000 ms") << "from the rank's death";
  ASSERT_EQ(job["recoveries"].size(), 1u);
  const json mttr = job["recoveries"][0]["mttr_ms"];
  EXPECT_EQ(mttr["detect"], 1000) << "from the rank's death to the verdict";
  EXPECT_EQ(mttr["total"], 2000);
  EXPECT_EQ(mttr["restore"], 700);
  EXPECT_EQ(mttr["first_step"], 100);
  EXPECT_EQ(job["recoveries"][0]["restored_step"], 41) << "what the ranks said they restored";

  AgentEvent(c, "n1", "job.exited", {{"job", "job-000001"}, {"attempt", 2}, {"exit_code", 0}, {"last", {{"step", 100}}}}, 5000);
  job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["result"]["last"]["step"], 100);
}

TEST(JobRecoveryTest, AControllerRestartInTheMiddleResumesThePhase) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  {
    auto store = StateStore::Open(dir);
    Cluster c(store->get(), Options(), "i1");
    c.Load(0);
    RegisterNodes(c);
    c.SubmitJob(Spec(), 10);
    Ack(c, *Newest(c, "n1", "launch_job"), 20);
    Crash(c, "n3", 2, 100);
    ASSERT_EQ(c.Job("job-000001")["recovery"]["phase"], "stop");
  }  // killed: the stop commands were never answered
  auto store = StateStore::Open(dir);
  Cluster c(store->get(), Options(), "i2");
  c.Load(50000);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{7, 7}; });
  c.DriveJobs(60000, 50000);
  json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "recovering");
  EXPECT_EQ(job["restarts"], 1);
  for (const char* n : {"n1", "n2", "n3"}) EXPECT_TRUE(Newest(c, n, "stop_job")) << "stop sent again to " << n;
  AckStops(c, 60100);
  job = c.Job("job-000001");
  EXPECT_EQ(job["placement"], json::array({"n1", "n2", "s1"}));
  auto launch = Newest(c, "n1", "launch_job");
  ASSERT_TRUE(launch);
  EXPECT_TRUE(Has(launch->args["argv"].get<std::vector<std::string>>(), "BULWARK_RESTORE_STEP=7"));
}

TEST(JobRecoveryTest, TheRestartBudgetEndsInAClearFailure) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  RegisterNodes(c);
  c.Register(Info("s2", "r3", "spare"), 1, 0);
  c.SubmitJob(Spec(/*restart_budget=*/1), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n2", 1, 100);
  AckStops(c, 1200);
  Ack(c, *Newest(c, "n1", "launch_job"), 1300);
  ASSERT_EQ(c.Job("job-000001")["recovery"]["phase"], "restore");
  // A second fault while the job restores: the budget of one restart is spent.
  Crash(c, "s1", 1, 12000);  // after the first crash's echo window
  const json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["reason"].get<std::string>().rfind("restart budget of 1 spent; last fault: during recovery: crash on s1", 0), 0u)
      << job["reason"];
}

TEST(JobRecoveryTest, AFaultDuringTheRestoreStartsTheRecoveryOverWithBothCulprits) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  RegisterNodes(c);
  c.Register(Info("s2", "r4", "spare"), 1, 0);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n2", 1, 100);
  AckStops(c, 1200);
  Ack(c, *Newest(c, "n1", "launch_job"), 1300);
  ASSERT_EQ(c.Job("job-000001")["recovery"]["phase"], "restore");
  Crash(c, "s1", 1, 12000);  // the replacement dies while the job restores
  json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "recovering");
  EXPECT_EQ(job["recovery"]["culprits"], json::array({"n2", "s1"}));
  EXPECT_EQ(job["restarts"], 2);
  EXPECT_EQ(c.Node("s1", 13000)["health"], "isolated");
  AckStops(c, 13100);
  job = c.Job("job-000001");
  EXPECT_EQ(job["placement"], json::array({"n1", "s2", "n3"})) << "the second spare takes the same place";
  EXPECT_EQ(job["recoveries"].size(), 0u) << "one recovery, started over";
}

TEST(JobRecoveryTest, WithoutASpareTheRecoveryWaitsThenGoesOn) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  c.Register(Info("n1", "r1"), 1, 0);
  c.Register(Info("n2", "r1"), 1, 0);
  c.Register(Info("n3", "r2"), 1, 0);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n1", 0, 100);
  AckStops(c, 1200);
  json job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["phase"], "spare");
  EXPECT_EQ(job["recovery"]["waiting_for"], "a free healthy node with NIC class 'any' to replace n1");
  c.Register(Info("n4", "r2"), 5000, 5000);
  c.DriveJobs(5001, 5001);
  job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["phase"], "relaunch");
  EXPECT_EQ(job["placement"], json::array({"n4", "n2", "n3"}));
  EXPECT_TRUE(Newest(c, "n4", "launch_job")) << "the new first node launches";
}

// n1 crashed and n2 failed a self-check: the spare takes one place, and the phase waits
// for a second node without piling up marks; each replacement is marked once it goes on.
TEST(JobRecoveryTest, AWaitForASecondReplacementMarksNothingUntilItGoesOn) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  RegisterNodes(c);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n1", 0, 100);
  c.CommandResult("n2", c.EnqueueCommand("n2", {{"kind", "self_check"}}, 1100).id, {{"ok", false}}, 1100);
  AckStops(c, 1200);
  json job = c.Job("job-000001");
  ASSERT_EQ(job["recovery"]["phase"], "spare");
  const size_t marks = job["recovery"]["marks"].size();
  for (int t = 1300; t < 2000; t += 100) c.DriveJobs(t, t);
  job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["marks"].size(), marks) << job["recovery"]["marks"].dump();
  EXPECT_EQ(job["recovery"]["waiting_for"], "a free healthy node with NIC class 'any' to replace n2");
  c.Register(Info("n4", "r2"), 5000, 5000);
  c.DriveJobs(5001, 5001);
  job = c.Job("job-000001");
  EXPECT_EQ(job["placement"], json::array({"s1", "n4", "n3"}));
  std::vector<std::string> replaced;
  for (const auto& m : job["recovery"]["marks"]) {
    if (m["what"].get<std::string>().rfind("replaced", 0) == 0) replaced.push_back(m["what"]);
  }
  EXPECT_EQ(replaced, (std::vector<std::string>{"replaced n1 with s1", "replaced n2 with n4"}));
}

TEST(JobRecoveryTest, WithoutASpareAShrinkPolicyGoesOnWithTheNodesLeft) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{41, 42}; });
  c.Register(Info("n1", "r1"), 1, 0);
  c.Register(Info("n2", "r1"), 1, 0);
  c.Register(Info("n3", "r2"), 1, 0);
  JobSpec spec = Spec();
  spec.spare_policy = "shrink";
  c.SubmitJob(spec, 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n2", 1, 100);
  AckStops(c, 1200);
  json job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["phase"], "relaunch") << job.dump(2);
  EXPECT_EQ(job["placement"], json::array({"n1", "n3"}));
  EXPECT_EQ(job["recovery"]["reshard"]["old_world"], 3);
  EXPECT_EQ(job["recovery"]["reshard"]["reads"], json::parse(R"({"0":[0,1],"1":[2]})")) << "n3 reads its own; n2's goes to rank 0";
  const auto argv = Newest(c, "n1", "launch_job")->args["argv"].get<std::vector<std::string>>();
  EXPECT_TRUE(Has(argv, "BULWARK_RESTORE_STEP=41"));
  EXPECT_TRUE(Has(argv, "BULWARK_RESHARD_WORLD=3"));
  EXPECT_TRUE(Has(argv, "BULWARK_RESHARD_READS=0:0+1"));
  EXPECT_TRUE(Has(argv, "BULWARK_RESHARD_READS=1:2"));
  EXPECT_FALSE(Has(argv, "n2:1"));
}

TEST(JobRecoveryTest, AShrinkPlanComposesAndSpreadsTheDroppedRanks) {
  // 4 nodes of 2 ranks; node 1 dropped: its old ranks 2, 3 go to new ranks 0 and 1.
  const Reshard once = PlanShrink(std::nullopt, 4, 2, {1});
  EXPECT_EQ(once.old_world, 8);
  EXPECT_EQ(once.reads, (std::map<int, std::vector<int>>{{0, {0, 2}}, {1, {1, 3}}, {2, {4}}, {3, {5}}, {4, {6}}, {5, {7}}}));
  // Then node 0 of the 3 left: its reads (old 0, 2, 1, 3) spread over the 4 new ranks.
  const Reshard twice = PlanShrink(once, 3, 2, {0});
  EXPECT_EQ(twice.old_world, 8);
  EXPECT_EQ(twice.reads, (std::map<int, std::vector<int>>{{0, {0, 4}}, {1, {2, 5}}, {2, {1, 6}}, {3, {3, 7}}}));
}

// Seen in the soak: a rank of the relaunch killed while it restored; the attempt's exit
// started the recovery over, which fenced the first culprit again, readmitted by then.
TEST(JobRecoveryTest, AnExitDuringTheRestoreFencesNoOneAgain) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  RegisterNodes(c);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n2", 1, 100);
  AckStops(c, 1200);
  Ack(c, *Newest(c, "n1", "launch_job"), 1300);
  ASSERT_EQ(c.Job("job-000001")["recovery"]["phase"], "restore");
  c.NodeAction("n2", NodeInput::kReadmit, "repaired", 1400);
  AgentEvent(c, "n1", "job.exited", {{"job", "job-000001"}, {"attempt", 2}, {"exit_code", 137}}, 1500);
  c.DriveJobs(4000, 4000);
  const json job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["trigger"], "exit") << job.dump();
  EXPECT_EQ(job["recovery"]["culprits"], json::array({"n2"})) << "no verdict names a new node; the first culprit stays on record";
  EXPECT_EQ(job["recovery"]["fenced"], json::array({"n2"}));
  EXPECT_EQ(c.Node("n2", 4000)["health"], "healthy") << "the first culprit, readmitted, stays so";
}

// A relaunched rank killed before its hook registered (in MPI_Init or its restore) leaves no
// ring and no verdict; mpirun names it when the job exits. The recovery starts over at once,
// with that rank's node fenced as well.
TEST(JobRecoveryTest, AnExitDuringTheRestoreFencesTheNodeMpirunSawDieFirst) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{3, 3}; });
  RegisterNodes(c);
  c.Register(Info("s2", "r4", "spare"), 1, 0);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  Crash(c, "n2", 1, 100);
  AckStops(c, 1200);
  Ack(c, *Newest(c, "n1", "launch_job"), 1300);
  ASSERT_EQ(c.Job("job-000001")["recovery"]["phase"], "restore");
  AgentEvent(c, "n1", "job.exited",
             {{"job", "job-000001"}, {"attempt", 2}, {"exit_code", 137},
              {"rank_died", {{"rank", 2}, {"pid", 4711}, {"node", "n3"}, {"signal", 9}}}},
             1500);
  c.DriveJobs(1600, 1600);  // no wait for a verdict that cannot come
  json job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["trigger"], "exit") << job.dump();
  EXPECT_EQ(job["recovery"]["culprits"], json::array({"n2", "n3"}));
  EXPECT_NE(job["reason"].get<std::string>().find("mpirun saw rank 2 on n3 die first, of signal 9"), std::string::npos) << job["reason"];
  EXPECT_EQ(c.Node("n3", 1700)["health"], "isolated");
  AckStops(c, 1800);
  job = c.Job("job-000001");
  EXPECT_EQ(job["placement"], json::array({"n1", "s1", "s2"})) << "the second spare takes n3's place";
  EXPECT_EQ(job["recovery"]["fenced"], json::array({"n2", "n3"}));

  // mpirun's word counts only for a node of the placement.
  AgentEvent(c, "n1", "job.exited",
             {{"job", "job-000001"}, {"attempt", 3}, {"exit_code", 137},
              {"rank_died", {{"rank", 0}, {"pid", 1}, {"node", "elsewhere"}, {"signal", 9}}}},
             1900);
  c.DriveJobs(2000, 2000);
  EXPECT_EQ(c.Job("job-000001")["recovery"]["culprits"], json::array({"n2", "n3"})) << "waits for a verdict instead";
}

TEST(JobRecoveryTest, AFailedExitThatNoVerdictExplainsRestartsInPlace) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  RegisterNodes(c);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  AgentEvent(c, "n1", "job.exited", {{"job", "job-000001"}, {"attempt", 1}, {"exit_code", 3}}, 500);
  c.DriveJobs(1000, 1000);
  EXPECT_EQ(c.Job("job-000001")["state"], "running") << "a verdict may still name a node";
  c.DriveJobs(2600, 2600);
  const json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "recovering");
  EXPECT_EQ(job["recovery"]["trigger"], "exit");
  EXPECT_EQ(job["recovery"]["culprits"], json::array());
  EXPECT_EQ(job["reason"], "the job exited with code 3; no verdict names a node: restarting in place");
}

TEST(JobRecoveryTest, AFailedExitWithNoVerdictFencesTheNodeMpirunNamed) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  RegisterNodes(c);
  c.SubmitJob(Spec(), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  AgentEvent(c, "n1", "job.exited",
             {{"job", "job-000001"}, {"attempt", 1}, {"exit_code", 139},
              {"rank_died", {{"rank", 1}, {"pid", 99}, {"node", "n2"}, {"signal", 11}}}},
             500);
  c.DriveJobs(1000, 1000);
  EXPECT_EQ(c.Job("job-000001")["state"], "running") << "a verdict, with its evidence, is still preferred";
  c.DriveJobs(2600, 2600);
  const json job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["culprits"], json::array({"n2"}));
  EXPECT_EQ(job["reason"],
            "the job exited with code 139; mpirun saw rank 1 on n2 die first, of signal 11; no verdict names a node, so mpirun's is fenced");
}

TEST(JobRecoveryTest, ADrainFreezesTheRanksUntilTheirNewestStepIsProtected) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  Cluster::SnapshotProgress progress{11, 12};  // step 12 is held by every rank, not yet protected
  c.set_snapshot_source([&](const std::string&) { return progress; });
  RegisterNodes(c);
  c.SubmitJob(Spec(/*restart_budget=*/0), 10);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  c.NodeAction("n3", NodeInput::kDrain, "kernel update", 100);
  json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "recovering") << "a planned move does not spend the restart budget (0 here)";
  EXPECT_EQ(job["recovery"]["trigger"], "drain");
  for (const char* n : {"n1", "n2", "n3"}) EXPECT_TRUE(Newest(c, n, "pause_job")) << n;
  EXPECT_FALSE(Newest(c, "n1", "stop_job"));
  AckStops(c, 200);  // none yet
  for (const char* n : {"n1", "n2", "n3"}) c.CommandResult(n, Newest(c, n, "pause_job")->id, {{"ok", true}}, 200);
  c.DriveJobs(300, 300);
  job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["waiting_for"], "step 12 to be protected before the ranks stop");
  EXPECT_FALSE(Newest(c, "n1", "stop_job"));
  progress.recovery_point = 12;
  c.DriveJobs(400, 400);
  EXPECT_TRUE(Newest(c, "n1", "stop_job")) << "frozen at a protected step: now they stop";
  AckStops(c, 500);
  job = c.Job("job-000001");
  EXPECT_EQ(job["placement"], json::array({"n1", "n2", "s1"}));
  EXPECT_EQ(c.Node("n3", 500)["health"], "healthy") << "drained, not fenced";
  EXPECT_TRUE(c.Node("n3", 500)["drained"].get<bool>());
  EXPECT_TRUE(Has(Newest(c, "n1", "launch_job")->args["argv"].get<std::vector<std::string>>(), "BULWARK_RESTORE_STEP=12"));
  EXPECT_EQ(job["restarts"], 0);
}

TEST(JobRecoveryTest, OperatorsRecoverRunningJobsOnly) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  RegisterNodes(c);
  c.SubmitJob(Spec(), 10);
  EXPECT_THROW(c.RecoverJob("job-000001", "", 15), ApiError) << "still pending";
  EXPECT_THROW(c.RecoverJob("job-000404", "", 15), ApiError);
  Ack(c, *Newest(c, "n1", "launch_job"), 20);
  const json job = c.RecoverJob("job-000001", "new data shards", 30);
  EXPECT_EQ(job["state"], "recovering");
  EXPECT_EQ(job["recovery"]["trigger"], "operator");
  EXPECT_EQ(job["recovery"]["culprits"], json::array()) << "nothing is fenced";
  EXPECT_EQ(c.Node("n1", 30)["health"], "healthy");
}

TEST(JobRecoveryTest, ATrainingAnomalyIsANotedIncidentAndItsBatchesGoWithEveryRelaunch) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{20, 21}; });
  RegisterNodes(c);
  JobSpec spec = Spec();
  spec.loss_spike_factor = 3;
  c.SubmitJob(spec, 10);
  auto launch = Newest(c, "n1", "launch_job");
  ASSERT_TRUE(launch);
  EXPECT_TRUE(Has(launch->args["argv"].get<std::vector<std::string>>(), "BULWARK_LOSS_SPIKE_FACTOR=3"));
  Ack(c, *launch, 20);

  // The trainer rolled back by itself; an older attempt's line would be stale.
  AgentEvent(c, "n1", "job.anomaly", {{"job", "job-000001"}, {"attempt", 0}, {"anomaly", "nan"}, {"skipped_batches", {99}}}, 90);
  AgentEvent(c, "n1", "job.anomaly",
             {{"job", "job-000001"}, {"attempt", 1}, {"anomaly", "nan"}, {"step", 25}, {"batch", 25}, {"loss", nullptr},
              {"grad_norm", nullptr}, {"rolled_back_to", 24}, {"from", "snapshot"}, {"skipped_batches", {25}}},
             100);
  json job = c.Job("job-000001");
  EXPECT_EQ(job["state"], "running") << "no node is at fault: nothing stops";
  ASSERT_EQ(job["anomalies"].size(), 1u);
  EXPECT_EQ(job["skip_batches"], json::array({25}));
  const json incident = c.Incident(job["anomalies"][0]["incident"]);
  EXPECT_EQ(incident["verdict"], "training_anomaly");
  EXPECT_EQ(incident["state"], "noted");
  EXPECT_TRUE(incident["nodes"].empty());
  EXPECT_NE(incident["summary"].get<std::string>().find("loss NaN"), std::string::npos) << incident["summary"];
  EXPECT_EQ(c.Node("n1", 100)["health"], "healthy");

  // A later crash relaunches from an older point: the batch stays skipped.
  Crash(c, "n2", 1, 200);
  AckStops(c, 1300);
  launch = Newest(c, "n1", "launch_job");
  ASSERT_TRUE(launch);
  EXPECT_TRUE(Has(launch->args["argv"].get<std::vector<std::string>>(), "BULWARK_SKIP_BATCHES=25"));
}

TEST(JobRecoveryTest, ALossSpikeFactorMustBeAboveOne) {
  EXPECT_THROW(ParseJobSpec({{"name", "t"}, {"command", {"/bin/t"}}, {"loss_spike_factor", 0.5}}), bulwark::JsonError);
  EXPECT_THROW(ParseJobSpec({{"name", "t"}, {"command", {"/bin/t"}}, {"loss_spike_factor", -1}}), bulwark::JsonError);
  EXPECT_EQ(ParseJobSpec({{"name", "t"}, {"command", {"/bin/t"}}, {"loss_spike_factor", 4}}).loss_spike_factor, 4);
}

}  // namespace
}  // namespace bulwark::controller
