// Issue 7 with real processes: a local cluster (controller, 4 agents, 1 spare), jobs
// submitted with `bulwarkctl job submit`, launched by the first node's agent through mpirun
// and the local remote-launch agent, faults that are real (a rank's SIGKILL, a node's agent
// and ranks killed, a rank stopped inside its step, the controller killed with -9 mid
// recovery). Each case ends with the job finished and its final digest equal to an
// uninterrupted run's, having lost at most one snapshot interval.
#include <dirent.h>
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/token.h"
#include "tests/support/process_job.h"
#include "tests/support/temp_dir.h"

namespace bulwark {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTiny = std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml";
constexpr int kSteps = 60;

int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string Output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// `skip`: data batches the run never trains on ("" none; "25,26").
std::string ReferenceDigest(const std::string& skip = "") {
  static std::map<std::string, std::string> digests;
  if (!digests.count(skip)) {
    std::vector<std::string> argv = {BULWARK_MPIRUN, "-np", "4", BULWARK_TRAIN_BIN, "--config", kTiny, "--steps", std::to_string(kSteps)};
    if (!skip.empty()) argv.insert(argv.end(), {"--skip-batches", skip});
    testing::ProcessJob job(argv);
    EXPECT_EQ(job.Wait(), 0) << job.err();
    std::string last;
    std::istringstream in(job.out());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("{\"step\"", 0) == 0) last = line;
    }
    digests[skip] = last.empty() ? std::string() : json::parse(last)["digest"].get<std::string>();
  }
  return digests[skip];
}

class RecoveryE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // Nodes are lost after 3 s of silence (12 beats of 250 ms): agents on a loaded 2-core
    // CI machine were seen silent for 1.8 s with nothing wrong. Only the whole-node case
    // asks for a faster verdict.
    ASSERT_EQ(Up(1, 12), 0)
        << testing::ReadWholeFile(dir_ + ".up.log");
  }
  void TearDown() override {
    if (HasFailure()) Shell("tail -n 30 " + dir_ + "/logs/controller.log; " + ctl_ + " events | tail -n 40");
    Ctl("cluster down >/dev/null 2>&1");
    Shell("rm -f /dev/shm/bulwark-*-node-0* /dev/shm/bulwark-*-spare-0*");
  }
  int Ctl(const std::string& args) { return Shell(ctl_ + " " + args); }
  // A fresh local cluster in a new directory (the previous one, if any, is taken down).
  int Up(int spares, int missed_beats, const std::string& extra = "") {
    if (!ctl_.empty()) Ctl("cluster down >/dev/null 2>&1");
    dir_ = testing::UniqueTempDir() + "/cluster-" + std::to_string(++clusters_);
    ctl_ = std::string(BULWARK_CTL) + " --dir " + dir_;
    return Ctl("cluster up --nodes 4 --spares " + std::to_string(spares) + " --heartbeat-ms 250 --missed-beats " +
               std::to_string(missed_beats) + " --local-hang-ms 3000 --hang-ms 6000 --snapshot-k 2 --snapshot-m 1 " + extra + " >" +
               dir_ + ".up.log 2>&1");
  }

  // Submits the reference job; `faults` go to every rank (node-bound faults fire only there).
  std::string Submit(const std::string& faults, int restart_budget = 3, const std::string& extra = "") {
    const std::string file = dir_ + ".job.yaml";
    std::ofstream(file) << "name: train\n"
                        << "command: [" << BULWARK_TRAIN_BIN << ", --config, " << kTiny << ", --steps, '" << kSteps << "']\n"
                        << "nodes: 4\nranks_per_node: 1\nrestart_budget: " << restart_budget << "\n"
                        << "snapshot: {every_steps: 1, k: 2, m: 1}\n"
                        << (faults.empty() ? "" : "env: {BULWARK_FAULTS: '" + faults + "'}\n") << extra;
    const json job = json::parse(Output(ctl_ + " --json job submit " + file));
    return job["id"];
  }
  json Job(const std::string& id) {
    const std::string out = Output(ctl_ + " --json job " + id + " 2>/dev/null");
    json j = json::parse(out, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }
  // Polls until the job reaches `state` (or any end state) or `timeout_ms` passes.
  json WaitFor(const std::string& id, const std::string& state, int64_t timeout_ms = 120000) {
    const int64_t until = MonotonicMs() + timeout_ms;
    json job;
    while (MonotonicMs() < until) {
      job = Job(id);
      const std::string s = job.value("state", "");
      if (s == state || s == "succeeded" || s == "failed" || s == "cancelled") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return job;
  }
  // Waits until the job's recovery point reaches `step`.
  void WaitForStep(const std::string& id, uint64_t step) {
    const int64_t until = MonotonicMs() + 60000;
    while (MonotonicMs() < until) {
      const json cluster = json::parse(testing::ReadWholeFile(dir_ + "/cluster.json"));
      http::Client client(cluster["controller"]["url"], ReadTokenFile(cluster["operator_token_file"]).value(), 5000);
      auto r = client.Send("GET", "/v1/jobs/" + id + "/snapshots");
      const json v = r.ok() && r->status == 200 ? json::parse(r->body) : json::object();
      if (v.value("recovery_point", json()).is_number() && v["recovery_point"].get<uint64_t>() >= step) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the job never protected step " << step;
  }
  // Every case ends here: finished, the uninterrupted run's digest, at most one interval lost.
  void ExpectRecovered(const json& job, int recoveries, uint64_t fault_step) {
    ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
    EXPECT_EQ(job["result"]["last"]["step"], kSteps);
    EXPECT_EQ(job["result"]["last"]["digest"], ReferenceDigest());
    ASSERT_EQ(job["recoveries"].size(), static_cast<size_t>(recoveries)) << job.dump(2);
    const json& r = job["recoveries"].back();
    ASSERT_TRUE(r["restore_step"].is_number()) << r.dump(2);
    EXPECT_GE(r["restore_step"].get<uint64_t>() + 1, fault_step - 1) << "lost more than one snapshot interval";
    EXPECT_GT(r["mttr_ms"].value("total", 0), 0);
  }

  std::string dir_;
  std::string ctl_;
  int clusters_ = 0;
};

TEST_F(RecoveryE2E, ARankCrashRestartsOnTheSpareFromPeerMemory) {
  const std::string id = Submit("crash:step=25:node=node-02");
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 25);
  EXPECT_EQ(job["placement"], json::array({"node-01", "spare-01", "node-03", "node-04"}));
  EXPECT_EQ(job["recoveries"][0]["culprits"], json::array({"node-02"}));
  EXPECT_EQ(Job(id)["state"], "succeeded");
  EXPECT_NE(Output(ctl_ + " nodes").find("isolated"), std::string::npos) << "node-02 is fenced";

  // The relaunch was planned on the new placement. The spare hangs off the other leaf, so
  // its flows cross the spines; its agent holds their source ports.
  const json plan = json::parse(Output(ctl_ + " --json plan job " + id), nullptr, false);
  ASSERT_TRUE(plan.is_object() && plan.value("planned", false)) << plan.dump(2);
  EXPECT_EQ(plan["nodes"], job["placement"]);
  ASSERT_GE(plan["history"].size(), 2u);
  EXPECT_EQ(plan["history"][0]["trigger"], "launch");
  EXPECT_EQ(plan["history"].back()["trigger"], "relaunch");
  EXPECT_GT(plan["phases"][0]["inter_leaf_flows"].get<int>(), 0);
  EXPECT_NEAR(plan["max_load_over_bound"].get<double>(), 1.0, 1e-9);
  const json held = json::parse(testing::ReadWholeFile(dir_ + "/nodes/spare-01/work/flow-ports/" + id + ".json"), nullptr, false);
  ASSERT_TRUE(held.is_object()) << "the spare's agent has no flow ports";
  EXPECT_EQ(held["attempt"], plan["attempt"]);
  ASSERT_FALSE(held["flows"].empty());
  EXPECT_EQ(held["flows"][0]["src"], "spare-01/eth0");
}

// A mixed cluster (`cluster up --nic-classes`): a job with a model is placed by NIC, each
// pipeline stage's data-parallel pair inside one class, and when node-04 (IB) fails the IB
// spare takes its place, though the Ethernet spare comes first by name and domain.
TEST_F(RecoveryE2E, AModelJobIsPlacedByNicAndItsIbNodeIsReplacedByTheIbSpare) {
  // node-01 ethernet, node-02 ib, node-03 ethernet, node-04 ib, spare-01 ethernet, spare-02 ib.
  ASSERT_EQ(Up(2, 12, "--nic-classes ethernet,ib"), 0);
  const std::string id = Submit("crash:step=25:node=node-04", 3,
                                "model: {pipeline_stages: 2, layers: 8, hidden: 2048, micro_batches: 8}\n");
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 25);
  const auto placement = job["placement"].get<std::vector<std::string>>();
  ASSERT_EQ(placement.size(), 4u);
  auto ib = [](const std::string& n) { return n == "node-02" || n == "node-04" || n == "spare-02"; };
  EXPECT_EQ(ib(placement[0]), ib(placement[1])) << "stage 0's data-parallel pair shares a class: " << job["placement"];
  EXPECT_EQ(ib(placement[2]), ib(placement[3])) << job["placement"];
  EXPECT_NE(ib(placement[0]), ib(placement[2])) << job["placement"];
  EXPECT_EQ(std::count(placement.begin(), placement.end(), "spare-02"), 1) << job["placement"];
  EXPECT_EQ(std::count(placement.begin(), placement.end(), "node-04"), 0);
  const auto layers = job["stage_layers"].get<std::vector<int>>();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0] + layers[1], 8);
  EXPECT_NE(Output(ctl_ + " job " + id).find("placed by NIC: 2 pipeline stages"), std::string::npos);
}

TEST_F(RecoveryE2E, AWholeNodeLostIsReplacedAndItsStateRebuilt) {
  // The node's silence must be the verdict before its peers' ranks, torn down by mpirun,
  // look like the first to crash: lost after 3 beats of 250 ms.
  ASSERT_EQ(Up(1, 3), 0);
  const std::string id = Submit("");
  WaitForStep(id, 20);
  // node-03 dies whole, as an operator injects it: its agent, its rank, its memory.
  const json injected = json::parse(Output(ctl_ + " --json inject kill-node --node node-03"), nullptr, false);
  ASSERT_EQ(injected.value("state", ""), "done") << injected.dump(2);
  EXPECT_EQ(injected["result"]["killed"].size(), 1u) << injected.dump(2);
  EXPECT_GT(injected["result"]["memory_files_removed"].get<int>(), 0) << injected.dump(2);
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 20);
  EXPECT_EQ(job["placement"][2], "spare-01");
  const json cluster = json::parse(testing::ReadWholeFile(dir_ + "/cluster.json"));
  for (const auto& a : cluster["agents"]) {
    if (a["name"] == "node-03") {
      EXPECT_NE(::kill(a["pid"].get<int>(), 0), 0) << "the agent died with its node";
    }
  }
}

// An operator's injected hang: the rank is stopped for real (SIGSTOP), the hang is the
// verdict, the node is fenced and the job goes on; the injection's record says what it hit
// and ends healed when its duration runs out.
TEST_F(RecoveryE2E, AnInjectedHangIsFencedAndTheInjectionEndsWithItsDuration) {
  const std::string id = Submit("");
  WaitForStep(id, 20);
  const json injected = json::parse(Output(ctl_ + " --json inject hang-rank --node node-04 --for 20s"), nullptr, false);
  ASSERT_EQ(injected.value("state", ""), "active") << injected.dump(2);
  EXPECT_EQ(injected["result"]["rank"], 3);
  EXPECT_EQ(injected["result"]["job"], id);
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 20);
  EXPECT_EQ(job["recoveries"][0]["culprits"], json::array({"node-04"}));
  const std::string inj = injected["id"];
  json record;
  for (int i = 0; i < 300; ++i) {
    record = json::parse(Output(ctl_ + " injection " + inj), nullptr, false);
    if (record.value("state", "") == "healed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(record.value("state", ""), "healed") << record.dump(2);
  EXPECT_EQ(record.value("healed_by", ""), "duration") << record.dump(2);
  const std::string events = Output(ctl_ + " events --limit 10000");
  for (const char* kind : {"injection.started", "injection.applied", "injection.healed"}) {
    EXPECT_NE(events.find(kind), std::string::npos) << kind;
  }
}

// The controller's own faults while a job trains. Its database's disk filled: writes are
// refused with a reason (an operator's drain here), nothing is lost, no agent or node falls
// over, and all is well once the fill heals. The controller killed and back after 1 s: the
// job never notices. Both end healed in the injection records.
TEST_F(RecoveryE2E, TheControllersDiskFilledAndItsDeathLeaveTheJobUntouched) {
  if (Up(1, 12, "--db-size 128MiB") != 0) {
    GTEST_SKIP() << "no database filesystem of its own here (needs root and loop devices): "
                 << testing::ReadWholeFile(dir_ + ".up.log");
  }
  const std::string id = Submit("");
  WaitForStep(id, 10);
  const json fill = json::parse(Output(ctl_ + " --json inject fill-disk --for 5s"), nullptr, false);
  ASSERT_EQ(fill.value("state", ""), "active") << fill.dump(2);
  const std::string refused = Output(ctl_ + " drain node-02 2>&1; echo rc=$?");
  EXPECT_NE(refused.find("kept in reserve"), std::string::npos) << refused;
  EXPECT_NE(refused.find("rc=1"), std::string::npos) << refused;
  json record = json::object();
  for (int i = 0; i < 300 && record.value("state", "") != "healed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    record = json::parse(Output(ctl_ + " injection " + fill["id"].get<std::string>()), nullptr, false);
  }
  EXPECT_EQ(record.value("state", ""), "healed") << record.dump(2);
  EXPECT_EQ(Output(ctl_ + " --json node node-02").find("\"drained\": true"), std::string::npos) << "the refused drain left no trace";

  EXPECT_EQ(Ctl("inject kill-controller --for 1s >/dev/null"), 0);
  const json job = WaitFor(id, "succeeded");
  ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
  EXPECT_EQ(job["result"]["last"]["digest"], ReferenceDigest());
  EXPECT_TRUE(job["recoveries"].empty()) << job["recoveries"].dump(2);
  const std::string nodes = Output(ctl_ + " nodes");
  EXPECT_EQ(nodes.find("lost"), std::string::npos) << nodes;
  EXPECT_EQ(nodes.find("suspect"), std::string::npos) << nodes;
  const json all = json::parse(Output(ctl_ + " --json injections"), nullptr, false);
  ASSERT_EQ(all["injections"].size(), 2u) << all.dump(2);
  for (const auto& i : all["injections"]) EXPECT_EQ(i.value("state", ""), "healed") << i.dump(2);
  const std::string log = testing::ReadWholeFile(dir_ + "/logs/node-01.log") + testing::ReadWholeFile(dir_ + "/logs/node-02.log");
  EXPECT_EQ(log.find("terminate called"), std::string::npos) << "no agent crashed";
}

TEST_F(RecoveryE2E, AHungRankIsFencedAndTheJobGoesOn) {
  const std::string id = Submit("hang:step=25:node=node-04");
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 25);
  EXPECT_EQ(job["recoveries"][0]["culprits"], json::array({"node-04"}));
}

TEST_F(RecoveryE2E, AControllerKilledMidRecoveryFinishesItAfterRestart) {
  const std::string id = Submit("crash:step=25:node=node-01");
  ASSERT_EQ(WaitFor(id, "recovering").value("state", ""), "recovering");
  const json cluster = json::parse(testing::ReadWholeFile(dir_ + "/cluster.json"));
  ::kill(cluster["controller"]["pid"].get<int>(), SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(Ctl("cluster up >/dev/null 2>&1"), 0) << "restarts what is not running: the controller";
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 25);
  EXPECT_EQ(job["placement"][0], "spare-01");
}

// A straggler is evicted only where the job's policy says so.
TEST_F(RecoveryE2E, AStragglerIsEvictedByPolicy) {
  const std::string id = Submit("slow:step=5:node=node-03:percent=150", 3, "evict_stragglers: true\n");
  const json job = WaitFor(id, "succeeded", 180000);
  ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
  EXPECT_EQ(job["result"]["last"]["digest"], ReferenceDigest()) << "a slow node changes timing, never numbers";
  ASSERT_GE(job["recoveries"].size(), 1u) << job.dump(2);
  EXPECT_EQ(job["recoveries"][0]["culprits"], json::array({"node-03"}));
  EXPECT_NE(job["recoveries"][0]["reason"].get<std::string>().find("straggler"), std::string::npos);
  EXPECT_EQ(job["placement"][2], "spare-01");
}

// The replacement itself fails (its rank dies at step 25 too): the job moves on to the
// second spare and still ends bit-identical. When the recovery point is step 24 the spare
// dies at the first step it runs, while the job restores, and the recovery starts over
// with both culprits; when it is 23 the spare runs step 24 first and its death is a second
// recovery. Which one depends on how far protection got when node-02 died; both are
// handled, and the unit tests pin the first down (JobRecoveryTest).
TEST_F(RecoveryE2E, ASecondFaultDuringRecoveryIsHandled) {
  ASSERT_EQ(Up(2, 12), 0);
  const std::string id = Submit("crash:step=25:node=node-02;crash:step=25:node=spare-01");
  const json job = WaitFor(id, "succeeded");
  ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
  EXPECT_EQ(job["result"]["last"]["digest"], ReferenceDigest());
  // Two faults, two restarts (more only if a launch itself failed on this busy machine).
  EXPECT_GE(job["restarts"].get<int>(), 2) << "the second fault is a second restart";
  EXPECT_EQ(job["placement"][1], "spare-02");
  json culprits = json::array();
  for (const auto& r : job["recoveries"]) {
    for (const auto& n : r["culprits"]) culprits.push_back(n);
    ASSERT_TRUE(r["restore_step"].is_number()) << r.dump(2);
    EXPECT_GE(r["restore_step"].get<int>(), 23) << "lost more than one snapshot interval";
  }
  EXPECT_EQ(culprits, json::array({"node-02", "spare-01"})) << job["recoveries"].dump(2);
}

// Planned maintenance: the job moves off a drained node, losing no finished step.
TEST_F(RecoveryE2E, ADrainMovesTheJobOffWithoutLosingAStep) {
  const std::string id = Submit("");
  WaitForStep(id, 20);
  ASSERT_EQ(Ctl("drain node-03 --reason 'kernel update' >/dev/null"), 0);
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 20);
  const json& r = job["recoveries"][0];
  EXPECT_EQ(r["trigger"], "drain");
  EXPECT_NE(r["marks"].dump().find("frozen at a protected step"), std::string::npos) << r.dump(2);
  EXPECT_EQ(job["restarts"], 0) << "a planned move spends no restart budget";
  EXPECT_EQ(job["placement"][2], "spare-01");
  const std::string nodes = Output(ctl_ + " nodes");
  EXPECT_EQ(nodes.find("isolated"), std::string::npos) << "node-03 is drained, not fenced:\n" << nodes;
}

// An operator restarts a healthy job from peers' memory (`bulwarkctl recover`).
TEST_F(RecoveryE2E, AnOperatorsRecoverRestartsInPlace) {
  const std::string id = Submit("");
  WaitForStep(id, 15);
  ASSERT_EQ(Ctl("recover " + id + " --reason 'new data shards' >/dev/null"), 0);
  const json job = WaitFor(id, "succeeded");
  ExpectRecovered(job, 1, 15);
  EXPECT_EQ(job["recoveries"][0]["trigger"], "operator");
  EXPECT_EQ(job["placement"], json::array({"node-01", "node-02", "node-03", "node-04"})) << "nothing fenced, nothing moved";
}

TEST_F(RecoveryE2E, ALossSpikeRollsBackToTheSnapshotBeforeItAndSkipsTheBatch) {
  const std::string id = Submit("spike:step=25:rank=1", 3, "loss_spike_factor: 3\n");
  const json job = WaitFor(id, "succeeded");
  ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
  ASSERT_EQ(job["anomalies"].size(), 1u) << job.dump(2);
  const json& a = job["anomalies"][0];
  EXPECT_EQ(a["anomaly"], "loss_spike");
  EXPECT_EQ(a["step"], 25);
  EXPECT_EQ(a["from"], "snapshot");
  EXPECT_EQ(a["rolled_back_to"], 24) << "lost more than one snapshot interval";
  EXPECT_EQ(a["skipped_batches"], json::array({25}));
  EXPECT_EQ(job["skip_batches"], json::array({25})) << "kept for relaunches";
  EXPECT_TRUE(job["recoveries"].empty()) << "rolled back in place: nothing relaunched, nothing fenced";
  EXPECT_EQ(job["placement"], json::array({"node-01", "node-02", "node-03", "node-04"}));
  EXPECT_EQ(job["result"]["last"]["digest"], ReferenceDigest("25")) << "equal to a run that never trained on batch 25";
  EXPECT_NE(ReferenceDigest("25"), ReferenceDigest()) << "the batch mattered";
  const json incident = json::parse(Output(ctl_ + " --json incident " + a["incident"].get<std::string>()));
  EXPECT_EQ(incident["verdict"], "training_anomaly");
  EXPECT_EQ(incident["state"], "noted");
  EXPECT_TRUE(incident["nodes"].empty()) << incident.dump(2);
  EXPECT_NE(incident["summary"].get<std::string>().find("rolled back to step 24"), std::string::npos) << incident.dump(2);
}

// No spare left and the job's policy is to shrink: it goes on with the 3 nodes it has, the
// ranks resharding the 4-rank snapshot in memory (node-02's part rebuilt from peers).
TEST_F(RecoveryE2E, WithNoSpareLeftTheJobShrinksAndReshardsFromPeerMemory) {
  ASSERT_EQ(Up(0, 12), 0);
  const std::string id = Submit("crash:step=25:node=node-02", 3, "spare_policy: shrink\n");
  const json job = WaitFor(id, "succeeded");
  ASSERT_EQ(job.value("state", ""), "succeeded") << job.dump(2);
  EXPECT_EQ(job["placement"], json::array({"node-01", "node-03", "node-04"}));
  ASSERT_EQ(job["recoveries"].size(), 1u) << job.dump(2);
  const json& r = job["recoveries"][0];
  EXPECT_EQ(r["reshard"]["old_world"], 4) << r.dump(2);
  ASSERT_TRUE(r["restore_step"].is_number()) << r.dump(2);
  const int restored = r["restore_step"].get<int>();
  EXPECT_GE(restored, 23) << "lost more than one snapshot interval";
  // The reference: 4 ranks to the restored step, then 3 ranks from there (resharded from files).
  const std::string state = dir_ + ".reference";
  fs::create_directories(state);
  testing::ProcessJob four({BULWARK_MPIRUN, "-np", "4", BULWARK_TRAIN_BIN, "--config", kTiny, "--steps", std::to_string(restored),
                            "--save-at", std::to_string(restored), "--state-dir", state});
  ASSERT_EQ(four.Wait(), 0) << four.err();
  testing::ProcessJob three({BULWARK_MPIRUN, "-np", "3", BULWARK_TRAIN_BIN, "--config", kTiny, "--steps", std::to_string(kSteps),
                             "--resume", state});
  ASSERT_EQ(three.Wait(), 0) << three.err();
  std::string last;
  std::istringstream out(three.out());
  for (std::string line; std::getline(out, line);) {
    if (line.rfind("{\"step\"", 0) == 0) last = line;
  }
  ASSERT_FALSE(last.empty()) << three.err();
  EXPECT_EQ(job["result"]["last"]["digest"], json::parse(last)["digest"])
      << "equal to an uninterrupted run that went from 4 ranks to 3 at step " << restored;
}

}  // namespace
}  // namespace bulwark
