// Fault scenarios, pure: reading a scenario (errors name the field) and judging what a run
// saw against it — incidents and recoveries matched to the faults, expectations checked,
// time lost and ETTR computed.
#include "controller/scenario.h"

#include <gtest/gtest.h>

#include "common/strict_json.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

json Doc() {
  return {{"name", "hang"},
          {"cluster", {{"nodes", 4}, {"spares", 1}, {"hang_ms", 6000}, {"db_size", "128MiB"}}},
          {"job", {{"name", "train"}, {"command", {"train"}}, {"nodes", 4}}},
          {"faults",
           {{{"at_step", 20}, {"kind", "hang-rank"}, {"node", "node-04"}, {"for", "30s"}, {"expect", {{"verdict", "hang"}, {"culprit", "node-04"}}}},
            {{"after", "2s"}, {"kind", "kill-controller"}, {"expect", {{"recovery", false}}}}}},
          {"expect", {{"finished", true}, {"digest", "uninterrupted"}}}};
}

std::string Error(json doc) {
  try {
    ParseScenario(doc);
  } catch (const JsonError& e) {
    return e.path() + ": " + e.what();
  }
  return "(accepted)";
}

TEST(ScenarioTest, AScenarioIsReadWithItsFaultsAsInjections) {
  const Scenario s = ParseScenario(Doc());
  EXPECT_EQ(s.name, "hang");
  EXPECT_EQ(s.cluster["db_size"], "128MiB");
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_EQ(*s.faults[0].at_step, 20u);
  EXPECT_EQ(s.faults[0].injection, json({{"kind", "hang-rank"}, {"node", "node-04"}, {"duration", "30s"}}));
  EXPECT_EQ(s.faults[0].verdict, "hang");
  EXPECT_EQ(s.faults[1].after_ms, 2000);
  EXPECT_EQ(s.faults[1].recovery, false);
  EXPECT_EQ(s.faults[0].recovery, true) << "recovered from, unless said otherwise";
  EXPECT_TRUE(s.expect_digest);
}

TEST(ScenarioTest, BadScenariosNameTheField) {
  json d = Doc();
  d["faults"][0].erase("at_step");
  EXPECT_NE(Error(d).find("faults[0].at_step: give exactly one of at_step"), std::string::npos) << Error(d);
  d = Doc();
  d["faults"][1]["kind"] = "melt-gpu";
  EXPECT_NE(Error(d).find("faults[1].kind"), std::string::npos) << Error(d);
  EXPECT_NE(Error(d).find("not 'melt-gpu'"), std::string::npos) << Error(d);
  d = Doc();
  d["faults"][0]["expect"]["verdikt"] = "hang";
  EXPECT_NE(Error(d).find("verdikt"), std::string::npos) << Error(d);
  d = Doc();
  d["cluster"]["nodes"] = "four";
  EXPECT_NE(Error(d).find("cluster.nodes: must be a whole number"), std::string::npos) << Error(d);
  d = Doc();
  d["expect"]["digest"] = "close";
  EXPECT_NE(Error(d).find("expect.digest: must be uninterrupted or any"), std::string::npos) << Error(d);
  d = Doc();
  d.erase("job");
  EXPECT_NE(Error(d).find("job"), std::string::npos) << Error(d);
  d = Doc();
  d["faults"][0].erase("at_step");
  d["faults"][0]["during"] = "rebuild";
  EXPECT_NE(Error(d).find("faults[0].during: must be a recovery phase: fence, stop, spare, relaunch or restore, not 'rebuild'"),
            std::string::npos) << Error(d);
  d["faults"][0]["during"] = "restore";
  EXPECT_EQ(ParseScenario(d).faults[0].during, "restore");
  d["faults"][0]["at_step"] = 3;
  EXPECT_NE(Error(d).find("give exactly one of at_step"), std::string::npos) << Error(d);
  d = Doc();
  d["faults"][0]["after"] = "soon";
  EXPECT_NE(Error(d).find("faults[0]"), std::string::npos) << Error(d);
}

// A run as the runner would see it: the hang injected at t=10 s, blamed at 16 s, the job's
// first step after the restore at 19 s; the controller killed at 30 s with no recovery.
RunSeen Seen() {
  RunSeen seen;
  seen.started_ms = 0;
  seen.ended_ms = 100000;
  seen.reference_digest = "abc";
  seen.faults = {{10000, {{"state", "healed"}, {"step_at_injection", 22}}}, {30000, {{"state", "healed"}}}};
  seen.incidents = json::array({{{"verdict", "imbalance"}, {"nodes", json::array()}, {"opened_ms", 5000}},
                                {{"verdict", "hang"}, {"nodes", {"node-04"}}, {"opened_ms", 16000}}});
  seen.job = {{"state", "succeeded"},
              {"result", {{"last", {{"step", 100}, {"digest", "abc"}}}}},
              {"recoveries",
               {{{"culprits", {"node-04"}}, {"detected_ms", 16000}, {"restore_step", 20},
                 {"mttr_ms", {{"total", 4000}}}, {"marks", {{{"what", "first_step"}, {"time_ms", 19000}}}}}}}};
  return seen;
}

TEST(ScenarioTest, ARunIsJudgedFaultByFault) {
  const RunResult r = JudgeRun(ParseScenario(Doc()), Seen());
  ASSERT_EQ(r.faults.size(), 2u);
  EXPECT_EQ(r.faults[0].verdict, "hang") << "the incident before the fault is not its";
  EXPECT_EQ(*r.faults[0].detect_ms, 6000);
  EXPECT_EQ(*r.faults[0].mttr_ms, 4000);
  EXPECT_EQ(*r.faults[0].repair_ms, 9000) << "from the injection to the first step after it";
  EXPECT_EQ(*r.faults[0].steps_lost, 2);
  EXPECT_TRUE(r.faults[0].problems.empty());
  EXPECT_FALSE(r.faults[1].mttr_ms) << "the controller's death needed no recovery";
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);
  // 9 s repairing, and 2 steps redone at the pace of the others: (100 - 9) / 102 s each.
  EXPECT_NEAR(r.lost_s, 9 + 2 * (91.0 / 102), 1e-9);
  EXPECT_NEAR(r.ettr, 1 - r.lost_s / 100, 1e-9);
}

TEST(ScenarioTest, UnmetExpectationsAreSaidInWords) {
  RunSeen seen = Seen();
  seen.incidents[1]["verdict"] = "crash";
  seen.incidents[1]["nodes"] = {"node-03"};
  seen.job["recoveries"][0]["culprits"] = {"node-03"};
  seen.job["result"]["last"]["digest"] = "abd";
  seen.faults[1].record = {{"state", "refused"}, {"error", "the controller did not come back"}};
  const RunResult r = JudgeRun(ParseScenario(Doc()), seen);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.faults[0].problems,
            (std::vector<std::string>{"verdict hang expected, got crash", "culprit node-04 expected, blamed [\"node-03\"]"}));
  EXPECT_EQ(r.faults[1].problems, (std::vector<std::string>{"not applied: the controller did not come back"}));
  EXPECT_EQ(r.problems, (std::vector<std::string>{"final digest abd, the uninterrupted run's is abc"}));

  seen = Seen();
  seen.job = {{"state", "running"}};
  seen.job["recoveries"] = json::array();
  const RunResult timed_out = JudgeRun(ParseScenario(Doc()), seen);
  EXPECT_EQ(timed_out.faults[0].problems, (std::vector<std::string>{"no recovery followed"}));
  EXPECT_EQ(timed_out.problems[0], "the job had not ended when the scenario's time ran out (running)");
}

// What the ranks restored counts over what they were asked to restore: a rebuild that
// failed (a corrupted fragment, too many losses) makes them start over, and every step
// done before the fault is lost.
TEST(ScenarioTest, StepsLostCountFromWhatTheRanksRestored) {
  json d = Doc();
  d["faults"][0]["expect"]["steps_lost"] = 0;
  RunSeen seen = Seen();
  seen.job["recoveries"][0]["restored_step"] = 22;
  RunResult r = JudgeRun(ParseScenario(d), seen);
  EXPECT_EQ(*r.faults[0].restored_step, 22);
  EXPECT_EQ(*r.faults[0].steps_lost, 0);
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);

  seen.job["recoveries"][0]["restored_step"] = 0;
  r = JudgeRun(ParseScenario(d), seen);
  EXPECT_EQ(*r.faults[0].steps_lost, 22);
  EXPECT_EQ(r.faults[0].problems, (std::vector<std::string>{"at most 0 steps lost expected, 22 were"}));
  EXPECT_EQ(r.ToJson()["faults"][0]["restored_step"], 0);
}

// A rank killed before its hook registered opens no incident; the recovery that mpirun's
// word started names the culprit.
TEST(ScenarioTest, WithoutAnIncidentTheRecoverysCulpritsAreTheBlamed) {
  json d = Doc();
  d["faults"][0]["expect"].erase("verdict");
  RunSeen seen = Seen();
  seen.incidents = json::array();
  RunResult r = JudgeRun(ParseScenario(d), seen);
  EXPECT_EQ(r.faults[0].blamed, std::vector<std::string>{"node-04"});
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);
}

// A second fault killed during the restore is seen only by mpirun: the recovery starts over
// naming its node. An imbalance incident opened later, while the relaunch warms up, names
// no one and is not this fault's detection: the recovery's culprits are who was blamed.
TEST(ScenarioTest, AnUnnamedIncidentAfterTheRecoveryBeganIsNotTheFaultsDetection) {
  json d = Doc();
  d["faults"] = {{{"at_step", 20}, {"kind", "kill-rank"}, {"node", "node-02"}, {"expect", {{"verdict", "crash"}, {"culprit", "node-02"}}}},
                 {{"during", "restore"}, {"kind", "kill-rank"}, {"node", "node-03"}, {"expect", {{"culprit", "node-03"}}}}};
  RunSeen seen = Seen();
  seen.faults = {{10000, {{"state", "done"}}}, {12000, {{"state", "done"}}}};
  seen.incidents = json::array({{{"verdict", "crash"}, {"nodes", {"node-02"}}, {"opened_ms", 10500}},
                                {{"verdict", "imbalance"}, {"nodes", json::array()}, {"opened_ms", 18000}}});
  seen.job["recoveries"] = {{{"culprits", {"node-02", "node-03"}}, {"detected_ms", 12300}, {"restore_step", 20},
                             {"mttr_ms", {{"total", 1500}}}, {"marks", json::array()}}};
  const RunResult r = JudgeRun(ParseScenario(d), seen);
  EXPECT_EQ(r.faults[1].verdict, "") << r.ToJson().dump(2);
  EXPECT_EQ(r.faults[1].blamed, (std::vector<std::string>{"node-02", "node-03"}));
  EXPECT_EQ(r.faults[1].detect_ms, 300) << "detected when the recovery started over";
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);
  // An unnamed incident that opened before the recovery began is still the fault's.
  seen.incidents[1]["opened_ms"] = 12100;
  EXPECT_EQ(JudgeRun(ParseScenario(d), seen).faults[1].verdict, "imbalance");
}

// Two faults moments apart: each is matched to the incident and recovery that name its
// node, even when the second fault's incident opened first; a shared recovery counts once.
TEST(ScenarioTest, FaultsMomentsApartAreMatchedByTheirNodes) {
  json d = Doc();
  d["faults"] = {{{"at_step", 20}, {"kind", "kill-node"}, {"node", "node-01"}, {"expect", {{"culprit", "node-01"}}}},
                 {{"after", "200ms"}, {"kind", "kill-node"}, {"node", "node-02"}, {"expect", {{"culprit", "node-02"}}}}};
  RunSeen seen = Seen();
  seen.faults = {{10000, {{"state", "done"}}}, {10200, {{"state", "done"}}}};
  seen.incidents = json::array({{{"verdict", "node_lost"}, {"nodes", {"node-02"}}, {"opened_ms", 11000}},
                                {{"verdict", "crash"}, {"nodes", {"node-01"}}, {"opened_ms", 11100}}});
  seen.job["recoveries"] = {{{"culprits", {"node-01", "node-02"}}, {"detected_ms", 11000}, {"restore_step", 20},
                             {"mttr_ms", {{"total", 3000}}}, {"marks", json::array()}}};
  const RunResult r = JudgeRun(ParseScenario(d), seen);
  EXPECT_EQ(r.faults[0].verdict, "crash");
  EXPECT_EQ(r.faults[1].verdict, "node_lost");
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);
  EXPECT_NEAR(r.lost_s, 3.0, 1e-9) << "one recovery for both";
}

// A fault with no incident of its own is not given one that names its node minutes later
// (another fault's): its detection would read minutes, and the run would count minutes lost.
TEST(ScenarioTest, AnIncidentMinutesLaterIsAnotherFaultsNotThisOnes) {
  RunSeen seen = Seen();
  seen.incidents[1]["opened_ms"] = 340000;
  seen.job["recoveries"][0]["detected_ms"] = 340000;
  seen.job["recoveries"][0]["marks"][0]["time_ms"] = 343000;
  seen.ended_ms = 400000;
  const RunResult r = JudgeRun(ParseScenario(Doc()), seen);
  EXPECT_EQ(r.faults[0].verdict, "") << r.ToJson().dump(2);
  EXPECT_FALSE(r.faults[0].repair_ms);
  EXPECT_NEAR(r.lost_s, 0, 1e-9);
}

TEST(ScenarioTest, APoissonScheduleIsSeededAndFollowsItsMeanAndMix) {
  PoissonFaults p;
  p.mean_interval_ms = 1000;
  p.duration_ms = 4000000;
  p.seed = 7;
  p.mix = {{"kill-rank", 3}, {"hang-rank", 1}};
  const auto a = PoissonSchedule(p), b = PoissonSchedule(p);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].injection, b[i].injection) << "the same seed, the same faults";
  // ~4000 draws: the mean gap within 5% of 1 s, kill-rank about three in four.
  ASSERT_GT(a.size(), 3500u);
  ASSERT_LT(a.size(), 4500u);
  int64_t total = 0;
  size_t kills = 0;
  for (const auto& f : a) {
    total += f.after_ms;
    kills += f.injection["kind"] == "kill-rank";
    EXPECT_EQ(f.injection["node"], "any");
    EXPECT_FALSE(f.recovery.has_value()) << "judged by the run's ETTR";
    if (f.injection["kind"] == "hang-rank") {
      EXPECT_EQ(f.injection["duration"], 30000);
    }
  }
  EXPECT_NEAR(double(total) / a.size(), 1000, 50);
  EXPECT_NEAR(double(kills) / a.size(), 0.75, 0.03);
  p.seed = 8;
  EXPECT_NE(PoissonSchedule(p)[0].after_ms, a[0].after_ms);
}

TEST(ScenarioTest, APoissonScenarioIsReadAndItsEttrJudged) {
  json d = Doc();
  d.erase("faults");
  d["poisson"] = {{"mean_interval", "2m"}, {"duration", "30m"}, {"seed", 3}, {"mix", {{"kill-node", 2}, {"kill-controller", 1}}}};
  d["expect"] = {{"finished", false}, {"ettr", 0.95}};
  const Scenario s = ParseScenario(d);
  ASSERT_TRUE(s.poisson);
  EXPECT_EQ(s.poisson->mean_interval_ms, 120000);
  EXPECT_EQ(s.poisson->duration_ms, 1800000);
  EXPECT_FALSE(s.expect_digest) << "a soak's job is cancelled: no digest to compare";
  d["poisson"]["mix"] = {{"fill-disk", 1}};
  EXPECT_NE(Error(d).find("poisson.mix.fill-disk: is not a kind a soak can draw"), std::string::npos) << Error(d);
  d["poisson"]["mix"] = {{"kill-rank", 1}};
  d["faults"] = Doc()["faults"];
  EXPECT_NE(Error(d).find("give faults or poisson, not both"), std::string::npos) << Error(d);

  RunSeen seen = Seen();
  seen.faults.clear();
  seen.job["state"] = "cancelled";
  const RunResult r = JudgeRun(s, seen);  // no faults drawn here: only the ETTR is judged
  EXPECT_TRUE(r.passed()) << r.ToJson().dump(2);
  Scenario strict = s;
  strict.expect_ettr = 1.0;
  seen.job["recoveries"] = {{{"culprits", {"node-04"}}, {"detected_ms", 16000}, {"restore_step", 20}, {"mttr_ms", {{"total", 4000}}}}};
  ScenarioFault kill;
  kill.injection = {{"kind", "kill-rank"}, {"node", "node-04"}};
  kill.recovery.reset();
  strict.faults = {kill};
  seen.faults = {{10000, {{"state", "done"}}}};
  const RunResult below = JudgeRun(strict, seen);
  EXPECT_FALSE(below.passed());
  EXPECT_NE(below.problems.back().find("below the 100.0% expected"), std::string::npos) << below.ToJson().dump(2);
}

}  // namespace
}  // namespace bulwark::controller
