// The cluster model on a real RocksDB store, driven with explicit clocks.
#include "controller/cluster.h"

#include <gtest/gtest.h>

#include "common/strict_json.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

NodeInfo Info(const std::string& name, const std::string& role = "worker") {
  NodeInfo info;
  info.name = name;
  info.role = role;
  info.rack = "r1";
  return info;
}

ClusterOptions Options() {
  ClusterOptions o;
  o.heartbeat_interval_ms = 1000;
  o.missed_beats = 3;
  o.restart_grace_ms = 10000;
  return o;
}

std::vector<std::string> Kinds(const Cluster& c, uint64_t after) {
  std::vector<std::string> kinds;
  for (const auto& e : c.Events(after, 100)) kinds.push_back(e["kind"].get<std::string>() + ":" + e.value("to", ""));
  return kinds;
}

TEST(ClusterTest, HeartbeatLossMakesLostAndReturnNeedsASelfCheck) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.Register(Info("n1"), 1000, 20000);
  c.CheckHeartbeats(1000, 23000);
  EXPECT_EQ(c.Node("n1", 23000)["health"], "healthy") << "3 s of silence is still within 3 x 1 s";
  c.CheckHeartbeats(1000, 23001);
  EXPECT_EQ(c.Node("n1", 23001)["health"], "lost");

  c.Heartbeat("n1", json::object(), 2000, 24000);
  EXPECT_EQ(c.Node("n1", 24000)["health"], "suspect");
  auto commands = c.CommandsAfter("n1", 0);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].kind, "self_check");
  c.CommandResult("n1", commands[0].id, {{"ok", true}, {"result", {{"summary", "4 checks passed"}}}}, 2500);
  auto node = c.Node("n1", 24100);
  EXPECT_EQ(node["health"], "healthy");
  EXPECT_EQ(node["reason"], "self-check passed: 4 checks passed");
  EXPECT_EQ(Kinds(c, 0), (std::vector<std::string>{"node.registered:", "node.health:lost", "node.health:suspect",
                                                   "node.health:healthy"}));
}

TEST(ClusterTest, FailedSelfCheckIsolates) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.Register(Info("n1"), 1, 20000);
  auto cmd = c.EnqueueCommand("n1", {{"kind", "self_check"}}, 2);
  c.CommandResult("n1", cmd.id, {{"ok", false}, {"result", {{"summary", "work_dir_writable (disk full)"}}}}, 3);
  EXPECT_EQ(c.Node("n1", 20001)["health"], "isolated");
  EXPECT_EQ(c.Node("n1", 20001)["reason"], "self-check failed: work_dir_writable (disk full)");
}

TEST(ClusterTest, StateSurvivesRestartWithAGracePeriod) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  uint64_t events = 0;
  {
    auto store = StateStore::Open(dir);
    Cluster c(store->get(), Options(), "i1");
    c.Load(0);
    c.Register(Info("n1"), 1, 20000);
    c.Register(Info("s1", "spare"), 1, 20000);
    c.NodeAction("n1", NodeInput::kDrain, "maintenance", 2);
    c.NodeAction("s1", NodeInput::kIsolate, "bad DIMM", 3);
    c.SubmitJob(ParseJobSpec({{"name", "llm"}, {"command", {"train"}}, {"nodes", 2}}), 4);
    events = c.last_event_id();
  }
  auto store = StateStore::Open(dir);
  Cluster c(store->get(), Options(), "i2");
  c.Load(100000);
  EXPECT_EQ(c.Node("n1", 100000)["drained"], true);
  EXPECT_EQ(c.Node("s1", 100000)["health"], "isolated");
  EXPECT_EQ(c.Node("s1", 100000)["role"], "spare");
  EXPECT_EQ(c.Jobs().size(), 1u);
  c.CheckHeartbeats(5, 109000);
  EXPECT_EQ(c.Node("n1", 109000)["health"], "healthy") << "no one is lost during the restart grace";
  c.CheckHeartbeats(5, 110001);
  EXPECT_EQ(c.Node("n1", 110001)["health"], "lost");
  auto reply = c.Register(Info("n1"), 6, 110002);
  EXPECT_EQ(reply["controller_instance"], "i2");
  EXPECT_EQ(reply["node"]["registrations"], 2);
  EXPECT_EQ(reply["node"]["drained"], true) << "re-registering keeps what the controller decided";
  EXPECT_GT(c.last_event_id(), events);
  auto job = c.SubmitJob(ParseJobSpec({{"name", "llm2"}, {"command", {"train"}}}), 7);
  EXPECT_EQ(job["id"], "job-000002") << "job ids continue after a restart";
}

TEST(ClusterTest, ARackGoingDarkIsRecordedInOneBatchAndSurvivesARestart) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  uint64_t before = 0;
  {
    auto store = StateStore::Open(dir);
    Cluster c(store->get(), Options(), "i1");
    c.Load(0);
    for (int i = 0; i < 40; ++i) c.Register(Info("n" + std::to_string(i)), 1000, 20000);
    c.Heartbeat("n7", json::object(), 1500, 21500);  // one node still talks
    before = c.last_event_id();
    c.CheckHeartbeats(2000, 23001);
    EXPECT_EQ(c.last_event_id(), before + 39) << "one event per lost node";
    EXPECT_EQ(c.CountByHealth()["lost"], 39u);
    EXPECT_EQ(c.Node("n7", 23001)["health"], "healthy");
    c.CheckHeartbeats(2001, 23002);
    EXPECT_EQ(c.last_event_id(), before + 39) << "a lost node is not lost again";
  }
  auto store = StateStore::Open(dir);
  Cluster c(store->get(), Options(), "i2");
  c.Load(100000);
  EXPECT_EQ(c.CountByHealth()["lost"], 39u) << "every transition of the batch was stored";
  EXPECT_EQ(c.Node("n7", 100000)["health"], "healthy");
  EXPECT_EQ(c.Node("n3", 100000)["health"], "lost");
}

TEST(ClusterTest, BadInputIsRefusedAndNothingChanges) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.Register(Info("n1"), 1, 20000);
  const uint64_t events = c.last_event_id();
  auto status = [](auto&& f) {
    try {
      f();
    } catch (const ApiError& e) {
      return e.status();
    } catch (const JsonError&) {
      return 400;
    }
    return 200;
  };
  EXPECT_EQ(status([&] { c.Heartbeat("ghost", json::object(), 1, 1); }), 404);
  EXPECT_EQ(status([&] { c.Heartbeat("n1", {{"ranks_running", -1}}, 1, 1); }), 400);
  EXPECT_EQ(status([&] { c.Telemetry("n1", R"({"batches":[{"time_ms":1,"ranks":[{"pid":1}]}]})", 1, 1); }), 400);
  EXPECT_EQ(status([&] { c.Telemetry("ghost", "{}", 1, 1); }), 404);
  EXPECT_EQ(status([&] { c.EnqueueCommand("n1", {{"kind", "format_disk"}}, 1); }), 400);
  EXPECT_EQ(status([&] { c.EnqueueCommand("n1", {{"kind", "start_ranks"}, {"args", json::object()}}, 1); }), 400);
  EXPECT_EQ(status([&] { c.CommandResult("n1", 99, {{"ok", true}}, 1); }), 404);
  EXPECT_EQ(status([&] { c.NodeAction("n1", NodeInput::kReadmit, "x", 1); }), 409);
  EXPECT_EQ(status([&] { c.CancelJob("job-9", 1); }), 404);
  EXPECT_EQ(status([&] { ParseJobSpec({{"name", "j"}, {"command", json::array()}}); }), 400);
  EXPECT_EQ(c.last_event_id(), events);
  EXPECT_EQ(c.Node("n1", 20000)["health"], "healthy");
}

TEST(ClusterTest, TelemetryAndAgentEventsAreKept) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.Register(Info("n1"), 1, 20000);
  json comm = {{"comm", "c0"}, {"op", "allreduce"}, {"calls", 10}, {"bytes", 4096}, {"mean_us", 12.5}, {"max_us", 40}, {"last_seq", 9}};
  c.Telemetry("n1", json{{"batches", {{{"time_ms", 5}, {"ranks", {{{"rank", 0}, {"pid", 42}, {"comms", {comm}}}}}}}}}.dump(), 5, 5);
  EXPECT_EQ(c.counters().telemetry_rank_records, 1u);
  EXPECT_EQ(c.Node("n1", 20000)["last_telemetry"]["ranks"][0]["comms"][0]["op"], "allreduce");
  c.AgentEvents("n1", {{"events", {{{"kind", "rank.exited"}, {"detail", {{"rank", 3}, {"signal", 9}}}}}}}, 6, 6);
  auto events = c.Events(0, 10);
  EXPECT_EQ(events.back()["kind"], "agent.rank.exited");
  EXPECT_EQ(events.back()["detail"]["signal"], 9);
}

// Verdict -> incident -> suspect -> self-check -> unconfirmed (passed) or confirmed (failed,
// isolated), stored with a timeline and kept across a controller restart.
TEST(ClusterTest, AVerdictOpensAnIncidentThatTheSelfCheckSettles) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  auto store = StateStore::Open(dir);
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  c.Register(Info("n1"), 1, 0);
  c.Register(Info("n2"), 1, 0);
  auto crash = [&](const std::string& node, int64_t t) {
    c.AgentEvents(node, {{"events", {{{"kind", "rank.exited"}, {"time_ms", t}, {"detail", {{"rank", 3}, {"pid", 7}, {"signal", 9}}}}}}}, t, t);
    c.Diagnose(t + 1000, t + 1000);  // after the settle window
  };
  // A requested stop is not a crash.
  c.AgentEvents("n1", {{"events", {{{"kind", "rank.exited"}, {"detail", {{"rank", 1}, {"signal", 15}, {"requested", true}}}}}}}, 5, 5);
  c.Diagnose(2000, 2000);
  EXPECT_TRUE(c.Incidents().empty());

  crash("n1", 3000);
  auto incidents = c.Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  json inc = incidents[0];
  EXPECT_EQ(inc["id"], "inc-000001");
  EXPECT_EQ(inc["verdict"], "crash");
  EXPECT_EQ(inc["state"], "suspect");
  EXPECT_EQ(inc["nodes"], json::array({"n1"}));
  EXPECT_EQ(c.Node("n1", 4000)["health"], "suspect");
  const uint64_t check = inc["self_checks"]["n1"].get<uint64_t>();
  EXPECT_EQ(c.GetCommand("n1", check)["kind"], "self_check");
  c.CommandResult("n1", check, {{"ok", true}, {"result", {{"summary", "7 checks passed"}}}}, 5000);
  inc = c.Incident("inc-000001");
  EXPECT_EQ(inc["state"], "unconfirmed");
  EXPECT_EQ(c.Node("n1", 5000)["health"], "healthy");
  EXPECT_EQ(inc["timeline"].back()["what"], "every blamed node passed its self-check: back to healthy, verdict unconfirmed");

  crash("n2", 30000);  // past the quiet window of the first
  inc = c.Incident("inc-000002");
  EXPECT_EQ(inc["state"], "suspect");
  const uint64_t lost = inc["self_checks"]["n2"].get<uint64_t>();
  // The controller restarts while it waits: the incident is still open after it, and the
  // self-check the first instance asked for is gone with it (its result finds no command),
  // so n2 registering again is asked anew.
  Cluster again(store->get(), Options(), "i2");
  again.Load(40000);
  EXPECT_THROW(again.CommandResult("n2", lost, {{"ok", true}}, 40000), ApiError);
  again.Register(Info("n2"), 40000, 40000);
  const uint64_t check2 = again.Incident("inc-000002")["self_checks"]["n2"].get<uint64_t>();
  EXPECT_EQ(again.GetCommand("n2", check2)["kind"], "self_check");
  EXPECT_NE(again.Incident("inc-000002")["timeline"].dump().find("self-check was lost to a restart; requested again"),
            std::string::npos);
  again.Register(Info("n2"), 40500, 40500);  // once more: the new one is still on its way
  EXPECT_EQ(again.Incident("inc-000002")["self_checks"]["n2"].get<uint64_t>(), check2);
  again.CommandResult("n2", check2, {{"ok", false}, {"result", {{"summary", "memory_bandwidth (3 GB/s, baseline 11)"}}}}, 41000);
  inc = again.Incident("inc-000002");
  EXPECT_EQ(inc["state"], "confirmed");
  EXPECT_EQ(again.Node("n2", 41000)["health"], "isolated");
  EXPECT_NE(inc["timeline"].dump().find("memory_bandwidth (3 GB/s, baseline 11)"), std::string::npos);
  auto events = again.Events(0, 1000);
  int opened = 0;
  for (const auto& e : events) opened += e["kind"] == "incident.opened";
  EXPECT_EQ(opened, 2);
}

// One rank per node in one communicator; 100 collectives of 10 ms compute each, the last
// 50 with every rank 5 ms longer inside the call (the transfer slowed, no rank late).
json SlowTransferTelemetry(int rank) {
  json timings = json::array();
  for (int seq = 1; seq <= 100; ++seq) {
    timings.push_back(seq);
    timings.push_back(seq <= 50 ? 1000 : 6000);  // in_call_us
    timings.push_back(10000);                    // compute_us
  }
  json comm = {{"comm", "job"}, {"op", "allreduce"}, {"calls", 100}, {"last_seq", 100}, {"last_seq_done", 100},
               {"timings", timings}};
  return {{"batches", {{{"time_ms", 1}, {"ranks", {{{"rank", rank}, {"pid", 100 + rank}, {"comms", {comm}}}}}}}}};
}

json Links(const std::string& from, const std::vector<std::string>& to, const std::string& slow) {
  json links = json::array();
  for (const auto& t : to) {
    const bool is_slow = from == slow || t == slow;
    links.push_back({{"to", t}, {"latency_us", is_slow ? 400.0 : 30.0}, {"mbps", is_slow ? 90.0 : 950.0}});
  }
  return {{"ok", true}, {"result", {{"node", from}, {"links", links}}}};
}

// Slow communication -> probe matrix from every node of the job -> a slow row and column is
// that node's NIC: confirmed, and the node is isolated.
TEST(ClusterTest, SlowCommunicationProbesTheJobsLinksAndIsolatesASlowNic) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  Cluster c(store->get(), Options(), "i1");
  c.Load(0);
  const std::vector<std::string> names = {"n1", "n2", "n3"};
  for (size_t i = 0; i < names.size(); ++i) {
    NodeInfo info = Info(names[i]);
    info.data_address = "127.0.0.1:" + std::to_string(7100 + i);
    c.Register(info, 1, 0);
  }
  for (size_t i = 0; i < names.size(); ++i) c.Telemetry(names[i], SlowTransferTelemetry(static_cast<int>(i)).dump(), 10, 10);
  c.Diagnose(20, 20);
  auto incidents = c.Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  json inc = incidents[0];
  EXPECT_EQ(inc["verdict"], "slow_communication");
  EXPECT_EQ(inc["state"], "probing");
  EXPECT_EQ(inc["probe_nodes"], json(names));
  for (const auto& name : names) EXPECT_EQ(c.Node(name, 20)["health"], "healthy") << "probing fences nothing";

  // Each node was asked to probe the two others' data planes.
  std::map<std::string, uint64_t> commands;
  for (const auto& name : names) {
    const json node = c.Node(name, 20);  // kept alive: the loop reads inside it
    for (const auto& cmd : node["commands"]) {
      if (cmd["kind"] != "probe_links") continue;
      commands[name] = cmd["id"].get<uint64_t>();
      EXPECT_EQ(cmd["args"]["peers"].size(), 2u) << cmd.dump();
    }
  }
  ASSERT_EQ(commands.size(), 3u);
  c.CommandResult("n1", commands["n1"], Links("n1", {"n2", "n3"}, "n3"), 30);
  c.CommandResult("n2", commands["n2"], Links("n2", {"n1", "n3"}, "n3"), 31);
  EXPECT_EQ(c.Incident(inc["id"])["state"], "probing") << "still waiting for n3's row";
  c.CommandResult("n3", commands["n3"], Links("n3", {"n1", "n2"}, "n3"), 32);
  inc = c.Incident(inc["id"]);
  EXPECT_EQ(inc["state"], "confirmed");
  EXPECT_EQ(inc["finding"]["kind"], "slow_nic");
  EXPECT_EQ(inc["nodes"], json::array({"n3"}));
  EXPECT_EQ(c.Node("n3", 40)["health"], "isolated");
  EXPECT_EQ(c.Node("n1", 40)["health"], "healthy");
  EXPECT_EQ(c.Node("n2", 40)["health"], "healthy");
}

}  // namespace
}  // namespace bulwark::controller
