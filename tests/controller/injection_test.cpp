// Fault injection as the controller sees it: the request's validation (pure), and the
// record's life on a real RocksDB store — queued for the agent, applied, healed by the
// agent's event or by a heal, refused with a reason, and kept across a restart. Plus
// bulwarkctl's request and table.
#include <gtest/gtest.h>

#include "controller/cluster.h"
#include "controller/ctl_inject.h"
#include "controller/injection.h"
#include "controller/injections.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

std::string Error(const json& body) {
  auto spec = ParseInjection(body);
  return spec.ok() ? "(accepted)" : spec.status().message();
}

TEST(InjectionSpecTest, AValidRequestIsReadWithItsDefaults) {
  auto hang = ParseInjection({{"kind", "hang-rank"}, {"node", "node-02"}, {"rank", 3}, {"duration", "1m"}});
  ASSERT_TRUE(hang.ok()) << hang.status().message();
  EXPECT_EQ(hang->duration_ms, 60000);
  EXPECT_EQ(*hang->rank, 3);
  EXPECT_EQ(ToJson(hang.value()), json({{"kind", "hang-rank"}, {"node", "node-02"}, {"rank", 3}, {"duration_ms", 60000}}));
  auto slow = ParseInjection({{"kind", "slow-rank"}, {"node", "n"}, {"duration", 1500}});
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(slow->percent, 100);
  EXPECT_EQ(slow->duration_ms, 1500);
  auto kill = ParseInjection({{"kind", "kill-node"}, {"node", "n"}});
  ASSERT_TRUE(kill.ok());
  EXPECT_EQ(ToJson(kill.value()), json({{"kind", "kill-node"}, {"node", "n"}})) << "done at once: no duration";
}

TEST(InjectionSpecTest, BadRequestsNameTheFieldAndWhatItMustBe) {
  EXPECT_EQ(Error(json::array()), "an injection is a JSON object");
  EXPECT_EQ(Error({{"node", "n"}}),
            "'kind' must be one of kill-rank, kill-node, hang-rank, slow-rank, corrupt-fragment, slow-link, lossy-link, "
            "partition-node, flap-link, fill-disk, kill-controller");
  EXPECT_EQ(Error({{"kind", "melt"}, {"node", "n"}}),
            "'kind' must be one of kill-rank, kill-node, hang-rank, slow-rank, corrupt-fragment, slow-link, lossy-link, "
            "partition-node, flap-link, fill-disk, kill-controller; not 'melt'");
  EXPECT_EQ(Error({{"kind", "fill-disk"}, {"node", "n"}}), "fill-disk takes no 'node'");
  EXPECT_EQ(Error({{"kind", "fill-disk"}, {"leave", "lots"}}), "'leave': 'lots' is not a size (4096, 64MiB, 1GiB)");
  EXPECT_EQ(Error({{"kind", "kill-rank"}}), "'node' is required for kill-rank");
  EXPECT_EQ(Error({{"kind", "kill-rank"}, {"node", "n"}, {"speed", 1}}),
            "unknown field 'speed' (known: kind, node, job, rank, duration, percent, leave, delay, rate, loss, period, down)");
  EXPECT_EQ(Error({{"kind", "kill-rank"}, {"node", "n"}, {"duration", "5s"}}), "kill-rank is done at once and takes no 'duration'");
  EXPECT_EQ(Error({{"kind", "hang-rank"}, {"node", "n"}, {"duration", "5 parsecs"}}),
            "'duration': '5 parsecs' is not a duration (500ms, 30s, 2m, 1h)");
  EXPECT_EQ(Error({{"kind", "hang-rank"}, {"node", "n"}, {"duration", "48h"}}), "'duration' must be between 0 and 24h");
  EXPECT_EQ(Error({{"kind", "hang-rank"}, {"node", "n"}, {"rank", -1}}), "'rank' must be a rank number (0 or more)");
  EXPECT_EQ(Error({{"kind", "kill-node"}, {"node", "n"}, {"rank", 1}}), "kill-node takes no 'rank'");
  EXPECT_EQ(Error({{"kind", "slow-rank"}, {"node", "n"}, {"percent", 0}}),
            "'percent' must be a whole number from 1 to 1000 (extra time of each unit of work)");
  EXPECT_EQ(Error({{"kind", "hang-rank"}, {"node", "n"}, {"percent", 50}}), "hang-rank takes no 'percent'");
  EXPECT_EQ(Error({{"kind", "kill-rank"}, {"node", ""}}), "'node' must be a non-empty string");
}

TEST(InjectionSpecTest, LinkFaultsTakeTheirShapeWithDefaults) {
  auto slow = ParseInjection({{"kind", "slow-link"}, {"node", "n"}, {"delay", "20ms"}, {"rate", "50mbit"}, {"duration", "1m"}});
  ASSERT_TRUE(slow.ok()) << slow.status().message();
  EXPECT_EQ(ToJson(slow.value()),
            json({{"kind", "slow-link"}, {"node", "n"}, {"duration_ms", 60000}, {"delay_ms", 20}, {"rate_mbit", 50.0}}));
  EXPECT_EQ(ParseInjection({{"kind", "slow-link"}, {"node", "n"}})->delay_ms, 50) << "a slow link with nothing said is 50 ms slower";
  EXPECT_EQ(ParseInjection({{"kind", "slow-link"}, {"node", "n"}, {"rate", 2.5}})->rate_mbit, 2.5) << "a bare number is Mbit/s";
  EXPECT_EQ(ParseInjection({{"kind", "slow-link"}, {"node", "n"}, {"rate", "800kbit"}})->rate_mbit, 0.8);
  EXPECT_EQ(ParseInjection({{"kind", "slow-link"}, {"node", "n"}, {"rate", "800kbit"}})->delay_ms, 0) << "a rate alone adds no delay";
  EXPECT_EQ(ParseInjection({{"kind", "lossy-link"}, {"node", "n"}})->loss_percent, 10);
  EXPECT_EQ(ParseInjection({{"kind", "lossy-link"}, {"node", "n"}, {"loss", 0.5}})->loss_percent, 0.5);
  auto flap = ParseInjection({{"kind", "flap-link"}, {"node", "n"}});
  ASSERT_TRUE(flap.ok());
  EXPECT_EQ(flap->period_ms, 10000);
  EXPECT_EQ(flap->down_ms, 2000);
  EXPECT_EQ(ParseInjection({{"kind", "flap-link"}, {"node", "n"}, {"period", "2s"}})->down_ms, 1000) << "down at most half the period";
  EXPECT_EQ(ParseInjection({{"kind", "partition-node"}, {"node", "n"}, {"duration", "10s"}})->duration_ms, 10000);
}

TEST(InjectionSpecTest, BadLinkFaultsAreRefusedByName) {
  EXPECT_EQ(Error({{"kind", "partition-node"}, {"node", "n"}}),
            "partition-node needs a 'duration': the partition keeps any heal from reaching the node");
  EXPECT_EQ(Error({{"kind", "slow-link"}, {"node", "n"}, {"loss", 5}}), "slow-link takes no 'loss'");
  EXPECT_EQ(Error({{"kind", "hang-rank"}, {"node", "n"}, {"delay", "5ms"}}), "hang-rank takes no 'delay'");
  EXPECT_EQ(Error({{"kind", "lossy-link"}, {"node", "n"}, {"period", "5s"}}), "lossy-link takes no 'period'");
  EXPECT_EQ(Error({{"kind", "slow-link"}, {"node", "n"}, {"delay", "11s"}}), "'delay' must be at most 10s");
  EXPECT_EQ(Error({{"kind", "slow-link"}, {"node", "n"}, {"rate", "fast"}}), "'rate': 'fast' is not a rate (100kbit, 50mbit, 1gbit, or Mbit/s)");
  EXPECT_EQ(Error({{"kind", "slow-link"}, {"node", "n"}, {"rate", "1kbit"}}), "'rate' must be at least 8kbit");
  EXPECT_EQ(Error({{"kind", "lossy-link"}, {"node", "n"}, {"loss", 150}}), "'loss' must be a percentage of packets above 0 and at most 100");
  EXPECT_EQ(Error({{"kind", "lossy-link"}, {"node", "n"}, {"loss", "lots"}}), "'loss' must be a percentage of packets above 0 and at most 100");
  EXPECT_EQ(Error({{"kind", "flap-link"}, {"node", "n"}, {"period", "2s"}, {"down", "3s"}}), "'down' must be shorter than 'period'");
  EXPECT_EQ(Error({{"kind", "flap-link"}, {"node", "n"}, {"down", "soon"}}), "'down': 'soon' is not a duration (500ms, 30s, 2m, 1h)");
  EXPECT_EQ(Error({{"kind", "slow-link"}}), "'node' is required for slow-link");
}

TEST(InjectionSpecTest, DurationsAndSizesReadAsOperatorsWriteThem) {
  EXPECT_EQ(ParseDurationMs("250ms").value(), 250);
  EXPECT_EQ(ParseDurationMs("30s").value(), 30000);
  EXPECT_EQ(ParseDurationMs("2m").value(), 120000);
  EXPECT_EQ(ParseDurationMs("1h").value(), 3600000);
  EXPECT_EQ(ParseDurationMs("700").value(), 700);
  EXPECT_FALSE(ParseDurationMs("s").ok());
  EXPECT_FALSE(ParseDurationMs("-5s").ok());
  EXPECT_FALSE(ParseDurationMs("5 s").ok());
  EXPECT_EQ(ParseBytes("64MiB").value(), 64ull << 20);
  EXPECT_EQ(ParseBytes("1GiB").value(), 1ull << 30);
  EXPECT_EQ(ParseBytes("4096").value(), 4096u);
  EXPECT_FALSE(ParseBytes("1GB").ok()) << "units are binary, and said so";
}

class InjectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = bulwark::testing::UniqueTempDir() + "/db";
    Open();
    NodeInfo info;
    info.name = "node-02";
    info.rack = "r1";
    cluster_->Register(info, 1000, 1000);
  }
  void Open() {
    injections_.reset();
    cluster_.reset();
    store_.reset();
    store_ = std::move(StateStore::Open(dir_).value());
    cluster_ = std::make_unique<Cluster>(store_.get(), ClusterOptions{}, "i1");
    cluster_->Load(0);
    injections_ = std::make_unique<Injections>(cluster_.get(), InjectionsOptions{dir_, 1 << 20});
    injections_->Load();
  }
  // The agent's side: the newest command for node-02, answered.
  Command Sent() { return cluster_->CommandsAfter("node-02", 0).back(); }
  void Answer(bool ok, const json& result) {
    const Command c = Sent();
    injections_->OnCommandResult("node-02", c.id, {{"ok", ok}, {"result", result}}, 3000);
  }
  std::vector<std::string> EventKinds() {
    std::vector<std::string> kinds;
    for (const auto& e : cluster_->Events(0, 100)) {
      if (e["kind"].get<std::string>().rfind("injection.", 0) == 0) kinds.push_back(e["kind"]);
    }
    return kinds;
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Injections> injections_;
};

TEST_F(InjectionsTest, ALastingFaultGoesToTheAgentAndIsHealedByItsEvent) {
  const json started = injections_->Start({{"kind", "hang-rank"}, {"node", "node-02"}, {"duration", "5s"}}, 2000);
  EXPECT_EQ(started["id"], "inj-000001");
  EXPECT_EQ(started["state"], "sent");
  const Command c = Sent();
  EXPECT_EQ(c.kind, "inject");
  EXPECT_EQ(c.args, json({{"id", "inj-000001"}, {"kind", "hang-rank"}, {"node", "node-02"}, {"duration_ms", 5000}}));

  Answer(true, {{"job", "job-000001"}, {"rank", 1}, {"pids", {4242}}});
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "active");
  EXPECT_EQ(injections_->Get("inj-000001")["result"]["pids"], json::array({4242}));

  const json events = {{"events", {{{"kind", "injection_healed"}, {"time_ms", 7000}, {"detail", {{"id", "inj-000001"}, {"by", "duration"}}}}}}};
  injections_->OnAgentEvents("node-03", events, 7000);
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "active") << "another node's word does not count";
  injections_->OnAgentEvents("node-02", events, 7000);
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "healed");
  EXPECT_EQ(injections_->Get("inj-000001")["healed_by"], "duration");
  EXPECT_EQ(EventKinds(), (std::vector<std::string>{"injection.started", "injection.applied", "injection.healed"}));
}

TEST_F(InjectionsTest, AHealIsSentToTheAgentAndItsAnswerEndsTheFault) {
  injections_->Start({{"kind", "slow-rank"}, {"node", "node-02"}, {"percent", 50}}, 2000);
  Answer(true, {{"pids", {1}}});
  const json healing = injections_->Heal("inj-000001", 4000);
  EXPECT_EQ(healing["state"], "active") << "until the agent has healed it";
  EXPECT_EQ(Sent().kind, "heal_injection");
  EXPECT_EQ(Sent().args, json({{"id", "inj-000001"}}));
  Answer(true, {{"healed", true}});
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "healed");
  EXPECT_EQ(injections_->Get("inj-000001")["healed_by"], "heal");
}

TEST_F(InjectionsTest, RefusalsSayWhyAndStoreNothing) {
  const auto status = [&](const json& body) {
    try {
      injections_->Start(body, 2000);
    } catch (const ApiError& e) {
      return std::to_string(e.status()) + " " + e.what();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(status({{"kind", "hang-rank"}, {"node", "node-09"}}), "404 unknown node 'node-09'");
  EXPECT_EQ(status({{"kind", "hang-rank"}}), "400 injection: 'node' is required for hang-rank");
  EXPECT_TRUE(injections_->List().empty());
  EXPECT_TRUE(cluster_->CommandsAfter("node-02", 0).empty());

  injections_->Start({{"kind", "kill-rank"}, {"node", "node-02"}}, 2000);
  Answer(false, {{"error", "no rank of any job runs on this node"}});
  const json failed = injections_->Get("inj-000001");
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"], "no rank of any job runs on this node");
  try {
    injections_->Heal("inj-000001", 3000);
    ADD_FAILURE() << "a one-shot fault has nothing to heal";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  try {
    injections_->Get("inj-000404");
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
  }
}

// The controller's own faults: kill-controller is recorded for the tool that strikes and
// healed by it; fill-disk refuses to fill a big filesystem (here: more than 1 MiB).
TEST_F(InjectionsTest, TheControllersOwnFaultsAreRecordedAndHealedHere) {
  const json kill = injections_->Start({{"kind", "kill-controller"}}, 2000);
  EXPECT_EQ(kill["state"], "active");
  EXPECT_EQ(kill["duration_ms"], 2000) << "down 2 s unless told";
  EXPECT_TRUE(cluster_->CommandsAfter("node-02", 0).empty()) << "no agent is involved";
  EXPECT_EQ(injections_->Heal(kill["id"], 5000)["state"], "healed");
  try {
    injections_->Start({{"kind", "fill-disk"}}, 6000);
    ADD_FAILURE() << "a filesystem with more than 1 MiB free is not to be filled";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_NE(std::string(e.what()).find("more than the 1 MiB allowed: give the database a filesystem of its own"), std::string::npos) << e.what();
  }
  EXPECT_EQ(injections_->List().size(), 1u) << "the refusal stored nothing";
  EXPECT_EQ(EventKinds(), (std::vector<std::string>{"injection.applied", "injection.healed"}));
}

TEST_F(InjectionsTest, RecordsOutliveARestartAndIdsGoOn) {
  injections_->Start({{"kind", "hang-rank"}, {"node", "node-02"}}, 2000);
  Answer(true, {{"pids", {7}}});
  Open();
  ASSERT_EQ(injections_->List().size(), 1u);
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "active");
  EXPECT_EQ(injections_->Get("inj-000001")["result"]["pids"], json::array({7}));
  NodeInfo info;
  info.name = "node-02";
  cluster_->Register(info, 5000, 5000);
  EXPECT_EQ(injections_->Start({{"kind", "kill-rank"}, {"node", "node-02"}}, 6000)["id"], "inj-000002");
  // The agent heals what it still holds, and says so, to the new controller as well.
  injections_->OnAgentEvents("node-02", {{"events", {{{"kind", "injection_healed"}, {"detail", {{"id", "inj-000001"}, {"by", "heal"}}}}}}}, 7000);
  EXPECT_EQ(injections_->Get("inj-000001")["state"], "healed");
}

}  // namespace
}  // namespace bulwark::controller

namespace bulwark::ctl {
namespace {

using nlohmann::json;

TEST(CtlInjectTest, FlagsBecomeTheRequestAndBadNumbersAreRefused) {
  auto body = InjectionRequest("slow-rank", {{"node", "node-02"}, {"for", "30s"}, {"percent", "150"}, {"rank", "2"}, {"reason", "x"}});
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body.value(), json({{"kind", "slow-rank"}, {"node", "node-02"}, {"duration", "30s"}, {"percent", 150}, {"rank", 2}}));
  auto bad = InjectionRequest("hang-rank", {{"rank", "two"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "--rank takes a whole number, not 'two'");
  auto link = InjectionRequest("slow-link", {{"node", "node-02"}, {"delay", "20ms"}, {"rate", "50mbit"}});
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link.value(), json({{"kind", "slow-link"}, {"node", "node-02"}, {"delay", "20ms"}, {"rate", "50mbit"}}));
  EXPECT_EQ(InjectionRequest("lossy-link", {{"loss", "2.5"}}).value()["loss"], 2.5);
  EXPECT_EQ(InjectionRequest("lossy-link", {{"loss", "2.5%"}}).status().message(), "--loss takes a percentage above 0, not '2.5%'");
}

TEST(CtlInjectTest, TheTableSaysWhatWasHitAndWhatBecameOfIt) {
  const json list = json::array(
      {{{"id", "inj-000001"}, {"kind", "hang-rank"}, {"node", "node-02"}, {"state", "active"}, {"duration_ms", 5000},
        {"result", {{"job", "job-000001"}, {"rank", 1}, {"pids", {4242}}}}},
       {{"id", "inj-000002"}, {"kind", "kill-rank"}, {"node", "node-03"}, {"state", "failed"}, {"error", "no rank of any job runs on this node"}}});
  const std::string table = InjectionsTable(list);
  EXPECT_NE(table.find("inj-000001  hang-rank  node-02 (rank 1 of job-000001)  active  5 s"), std::string::npos) << table;
  EXPECT_NE(table.find("no rank of any job runs on this node"), std::string::npos) << table;
  EXPECT_EQ(InjectionLine(list[0]), "inj-000001: hang-rank on node-02 (rank 1 of job-000001): active (5 s) — pids [4242]");
  EXPECT_EQ(InjectionsTable(json::array()), "(no injections)\n");
}

}  // namespace
}  // namespace bulwark::ctl
