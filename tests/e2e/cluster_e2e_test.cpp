// Whole-cluster tests with real processes: bulwarkctl starts a controller and agents on
// loopback; the tests stop agents with signals, kill -9 the controller, and check what the
// API says, through bulwarkctl's exit codes and the REST API itself.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/token.h"
#include "tests/support/temp_dir.h"

namespace bulwark {
namespace {

using nlohmann::json;

struct CtlRun {
  int code;
  std::string out;
};

// Runs bulwarkctl with the cluster dir; returns its exit code and stdout+stderr.
CtlRun Ctl(const std::string& dir, const std::string& args) {
  const std::string cmd = std::string(BULWARK_CTL) + " --dir " + dir + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

json ClusterState(const std::string& dir) {
  std::ifstream in(dir + "/cluster.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

int AgentPid(const std::string& dir, const std::string& name) {
  const json state = ClusterState(dir);  // kept alive: the loop reads inside it
  for (const auto& a : state["agents"]) {
    if (a["name"] == name) return a["pid"];
  }
  ADD_FAILURE() << "no agent " << name;
  return -1;
}

class ClusterE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = bulwark::testing::UniqueTempDir() + "/cluster";
    CtlRun up = Ctl(dir_, "cluster up --nodes 3 --spares 1 --heartbeat-ms 200 --restart-grace-ms 3000");
    ASSERT_EQ(up.code, 0) << up.out;
    const json state = ClusterState(dir_);
    url_ = state["controller"]["url"];
    operator_token_ = ReadTokenFile(state["operator_token_file"]).value();
    agent_token_ = ReadTokenFile(dir_ + "/tokens/agent.token").value();
  }
  void TearDown() override {
    const json state = ClusterState(dir_);
    for (const auto& a : state["agents"]) {
      if (a["pid"].get<int>() > 0) ::kill(a["pid"].get<int>(), SIGCONT);
    }
    CtlRun down = Ctl(dir_, "cluster down");
    EXPECT_EQ(down.code, 0) << down.out;
  }

  json Get(const std::string& path) {
    http::Client c(url_, operator_token_);
    auto r = c.Send("GET", path);
    EXPECT_TRUE(r.ok() && r->status == 200) << path << ": " << (r.ok() ? r->body : r.status().message());
    return r.ok() ? json::parse(r->body, nullptr, false) : json();
  }

  std::string Health(const std::string& node) { return Get("/v1/nodes/" + node)["health"]; }

  bool WaitHealth(const std::string& node, const std::string& want, int timeout_ms) {
    const int64_t until = MonotonicMs() + timeout_ms;
    while (MonotonicMs() < until) {
      if (Health(node) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string dir_, url_, operator_token_, agent_token_;
};

TEST_F(ClusterE2E, AgentsRegisterWithTheirFailureDomains) {
  const json nodes = Get("/v1/nodes")["nodes"];
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_EQ(nodes[0]["name"], "node-01");
  EXPECT_EQ(nodes[0]["failure_domain"]["rack"], "rack-1");
  EXPECT_EQ(nodes[2]["failure_domain"]["rack"], "rack-2");
  EXPECT_EQ(nodes[3]["name"], "spare-01");
  EXPECT_EQ(nodes[3]["role"], "spare");
  for (const auto& n : nodes) {
    EXPECT_EQ(n["health"], "healthy");
    EXPECT_TRUE(n["online"].get<bool>());
    EXPECT_NE(n["shm_prefix"].get<std::string>().find(n["name"].get<std::string>()), std::string::npos);
  }
  CtlRun status = Ctl(dir_, "status");
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(status.out.find("4 nodes (4 online)"), std::string::npos) << status.out;
}

TEST_F(ClusterE2E, SilentAgentIsLostThenSuspectThenHealthyAfterSelfCheck) {
  const int pid = AgentPid(dir_, "node-02");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(WaitHealth("node-02", "lost", 5000));
  EXPECT_EQ(Health("node-01"), "healthy");
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  ASSERT_TRUE(WaitHealth("node-02", "healthy", 5000)) << Get("/v1/nodes/node-02").dump();
  std::vector<std::string> path;
  const json events = Get("/v1/events?since=0&limit=1000");
  for (const auto& e : events["events"]) {
    if (e["kind"] == "node.health" && e["node"] == "node-02") path.push_back(e["to"]);
  }
  EXPECT_EQ(path, (std::vector<std::string>{"lost", "suspect", "healthy"}));
}

TEST_F(ClusterE2E, DrainIsolateReadmitWithExitCodes) {
  EXPECT_EQ(Ctl(dir_, "drain node-01 --reason 'kernel update'").code, 0);
  EXPECT_EQ(Get("/v1/nodes/node-01")["drained"], true);
  EXPECT_EQ(Ctl(dir_, "isolate node-03").code, 0);
  EXPECT_EQ(Health("node-03"), "isolated");
  CtlRun wrong = Ctl(dir_, "readmit node-01");
  EXPECT_EQ(wrong.code, 1) << wrong.out;  // healthy already: refused with a reason
  EXPECT_NE(wrong.out.find("already healthy"), std::string::npos) << wrong.out;
  EXPECT_EQ(Ctl(dir_, "readmit node-03 --as spare").code, 0);
  EXPECT_EQ(Get("/v1/nodes/node-03")["role"], "spare");
  EXPECT_EQ(Ctl(dir_, "drain no-such-node").code, 4);
  EXPECT_EQ(Ctl(dir_, "frobnicate").code, 2);
  CtlRun self_check = Ctl(dir_, "command node-01 self_check --wait");
  EXPECT_EQ(self_check.code, 0) << self_check.out;
  EXPECT_NE(self_check.out.find("succeeded"), std::string::npos) << self_check.out;
}

TEST_F(ClusterE2E, AgentRunsAndStopsRanksAndReportsTheirExit) {
  CtlRun start = Ctl(dir_, "command node-01 start_ranks --args '{\"command\":[\"sleep\",\"30\"],\"ranks\":2}' --wait");
  ASSERT_EQ(start.code, 0) << start.out;
  CtlRun status = Ctl(dir_, "--json command node-01 report_status --wait");
  ASSERT_EQ(status.code, 0) << status.out;
  EXPECT_EQ(json::parse(status.out)["result"]["ranks"].size(), 2u) << status.out;
  ASSERT_EQ(Ctl(dir_, "command node-01 stop_ranks --wait").code, 0);
  int exits = 0;
  for (int i = 0; i < 40 && exits < 2; ++i) {
    exits = 0;
    const json events = Get("/v1/events?since=0&limit=1000");
    for (const auto& e : events["events"]) exits += e["kind"] == "agent.rank.exited";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(exits, 2);
}

// Diagnosis' probe matrix, one row: an agent measures round trip and bandwidth to another
// agent's data plane (registered with the node), over real TCP; an address that does not
// answer fails the command and says which.
TEST_F(ClusterE2E, AnAgentProbesItsLinksToPeersDataPlanes) {
  const json nodes = Get("/v1/nodes");
  std::string address;
  for (const auto& n : nodes["nodes"]) {
    if (n["name"] == "node-02") address = n.value("data_address", std::string());
  }
  ASSERT_FALSE(address.empty()) << nodes.dump();
  const json args = {{"peers", {{{"node", "node-02"}, {"address", address}}}}, {"pings", 10}, {"bulk_bytes", 4 << 20}};
  CtlRun probe = Ctl(dir_, "--json command node-01 probe_links --args '" + args.dump() + "' --wait");
  ASSERT_EQ(probe.code, 0) << probe.out;
  const json link = json::parse(probe.out)["result"]["links"][0];
  EXPECT_EQ(link["to"], "node-02");
  EXPECT_GT(link["latency_us"].get<double>(), 0);
  EXPECT_GT(link["mbps"].get<double>(), 0);
  const json dead = {{"peers", {{{"node", "node-09"}, {"address", "127.0.0.1:1"}}}}, {"timeout_ms", 1000}};
  CtlRun failed = Ctl(dir_, "--json command node-01 probe_links --args '" + dead.dump() + "' --wait");
  EXPECT_NE(failed.code, 0);
  EXPECT_NE(failed.out.find("127.0.0.1:1"), std::string::npos) << failed.out;
}

// bulwarkctl diag: every self-check on a real agent, the MPI one spanning the chosen nodes
// (here all on this machine, found by the hostnames the agents registered).
TEST_F(ClusterE2E, DiagRunsEverySelfCheckWithAnMpiJobAcrossChosenNodes) {
  CtlRun diag = Ctl(dir_, "diag node-01 --mpi-with node-02,node-03");
  ASSERT_EQ(diag.code, 0) << diag.out;
  EXPECT_NE(diag.out.find("all checks passed"), std::string::npos) << diag.out;
  const size_t row = diag.out.find("mpi_pingpong_allreduce");
  ASSERT_NE(row, std::string::npos) << diag.out;
  const std::string line = diag.out.substr(row, diag.out.find('\n', row) - row);
  EXPECT_NE(line.find("pass"), std::string::npos) << line;
  EXPECT_NE(line.find("3 ranks"), std::string::npos) << line;
  EXPECT_NE(line.find("sums correct"), std::string::npos) << line;

  CtlRun unknown = Ctl(dir_, "diag node-01 --mpi-with node-02,node-77");
  EXPECT_EQ(unknown.code, 4) << unknown.out;
  EXPECT_NE(unknown.out.find("unknown node 'node-77' in --mpi-with"), std::string::npos) << unknown.out;
  const json one_host = {{"mpi_hosts", {"localhost"}}};
  CtlRun refused = Ctl(dir_, "command node-01 self_check --args '" + one_host.dump() + "'");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.out.find("mpi_hosts"), std::string::npos) << refused.out;
}

// A hooked MPI program started by the agent: the agent gives it its socket, drains its ring,
// and ships the statistics; the controller's node view and bulwarkctl node show them.
TEST_F(ClusterE2E, HookedRanksFeedTheAgentWhoseStatisticsReachTheController) {
  const json args = {{"command", {BULWARK_C_PROBE}}, {"ranks", 1}, {"env", {{"LD_PRELOAD", BULWARK_PMPI_LIB}}}};
  CtlRun start = Ctl(dir_, "command node-02 start_ranks --args '" + args.dump() + "' --wait");
  ASSERT_EQ(start.code, 0) << start.out;
  // Telemetry goes out every second; wait for a summary taken after the probe finished.
  constexpr int64_t kProbeCalls = 34 + 2 + 1;  // see tests/plugins/pmpi_hook_test.cpp
  json comms;
  int64_t calls = 0;
  for (int i = 0; i < 100 && calls < kProbeCalls; ++i) {
    const json telemetry = Get("/v1/nodes/node-02")["last_telemetry"];
    if (telemetry.is_object() && !telemetry["ranks"].empty()) {
      comms = telemetry["ranks"][0]["comms"];
      calls = 0;
      for (const auto& c : comms) calls += c["calls"].get<int64_t>();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(calls, kProbeCalls) << "every collective the probe made: " << comms.dump(1);
  EXPECT_EQ(comms.size(), 3u) << "the world, its split and its duplicate";
  CtlRun node = Ctl(dir_, "node node-02");
  EXPECT_NE(node.out.find("collectives at"), std::string::npos) << node.out;
  EXPECT_NE(node.out.find("SEQ DONE"), std::string::npos) << node.out;
}

TEST_F(ClusterE2E, ControllerKillNineLosesNothingAndAgentsReRegister) {
  ASSERT_EQ(Ctl(dir_, "drain node-01").code, 0);
  ASSERT_EQ(Ctl(dir_, "isolate node-02").code, 0);
  const uint64_t last_event = Get("/v1/cluster")["last_event_id"];
  const int pid = ClusterState(dir_)["controller"]["pid"];
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  CtlRun down = Ctl(dir_, "status");
  EXPECT_EQ(down.code, 3) << "an unreachable controller has its own exit code: " << down.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // agents notice and back off
  CtlRun up = Ctl(dir_, "cluster up");
  ASSERT_EQ(up.code, 0) << up.out;
  EXPECT_NE(up.out.find("1 process started"), std::string::npos) << up.out;
  const json n1 = Get("/v1/nodes/node-01");
  EXPECT_EQ(n1["drained"], true);
  EXPECT_EQ(Health("node-02"), "isolated");
  // Every agent registered again with the new controller instance.
  const int64_t until = MonotonicMs() + 5000;
  bool all = false;
  while (!all && MonotonicMs() < until) {
    all = true;
    const json nodes = Get("/v1/nodes");
    for (const auto& n : nodes["nodes"]) all = all && n["registrations"].get<int>() >= 2;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(all) << Get("/v1/nodes").dump();
  EXPECT_GT(Get("/v1/cluster")["last_event_id"].get<uint64_t>(), last_event) << "event ids continue";
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));  // past the restart grace
  EXPECT_EQ(Health("node-03"), "healthy") << "no node was lost over the restart";
}

TEST_F(ClusterE2E, AuthAndBadInputAreRefusedClearly) {
  http::Client none(url_, "");
  http::Client wrong(url_, "not-the-right-token-at-all");
  http::Client agent(url_, agent_token_);
  http::Client op(url_, operator_token_);
  EXPECT_EQ(none.Send("GET", "/v1/nodes")->status, 401);
  EXPECT_EQ(wrong.Send("GET", "/v1/nodes")->status, 401);
  EXPECT_EQ(agent.Send("POST", "/v1/nodes/node-01/drain")->status, 401) << "the agent token is not an operator's";
  EXPECT_EQ(op.Send("POST", "/v1/agents/node-01/heartbeat", "{}")->status, 401);
  EXPECT_EQ(none.Send("GET", "/healthz")->status, 200);
  EXPECT_EQ(none.Send("GET", "/readyz")->status, 200);
  auto garbage = agent.Send("POST", "/v1/agents/node-01/heartbeat", "{not json");
  EXPECT_EQ(garbage->status, 400);
  EXPECT_NE(garbage->body.find("not valid JSON"), std::string::npos);
  auto typo = op.Send("POST", "/v1/jobs", R"({"name":"j","command":["x"],"nodez":2})");
  EXPECT_EQ(typo->status, 400);
  EXPECT_NE(typo->body.find("nodez: unknown field"), std::string::npos) << typo->body;
  EXPECT_EQ(op.Send("POST", "/v1/jobs", std::string(2 << 20, ' '))->status, 413);
  EXPECT_EQ(op.Send("GET", "/v1/nodes/ghost")->status, 404);
  EXPECT_EQ(op.Send("PUT", "/v1/nodes")->status, 405);
  EXPECT_EQ(op.Send("GET", "/metrics")->status, 200);
  EXPECT_NE(op.Send("GET", "/metrics")->body.find("bulwark_nodes{health=\"healthy\"} 4"), std::string::npos);
  EXPECT_EQ(Get("/v1/nodes")["nodes"].size(), 4u) << "nothing stored was lost";

  // A job file with a typo: the line is named; a good one is accepted and cancelled.
  const std::string job = dir_ + "/job.yaml";
  std::ofstream(job) << "name: llm\ncommand: [bulwark-train]\nnodes: 2\nsnapshot:\n  kk: 4\n";
  CtlRun bad = Ctl(dir_, "job submit " + job);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("job.yaml:5: snapshot.kk: unknown field"), std::string::npos) << bad.out;
  std::ofstream(job) << "name: llm\ncommand: [bulwark-train]\nnodes: 2\n";
  EXPECT_EQ(Ctl(dir_, "job submit " + job).code, 0);
  EXPECT_EQ(Ctl(dir_, "job cancel job-000001").code, 0);
  EXPECT_EQ(Ctl(dir_, "job cancel job-000001").code, 1);
}

TEST_F(ClusterE2E, TheFabricTakesLinkReportsAndRefusesUnknownSwitches) {
  CtlRun fabric = Ctl(dir_, "fabric");
  ASSERT_EQ(fabric.code, 0) << fabric.out;
  EXPECT_NE(fabric.out.find("local-cluster: hosts 4, NICs 4, leaves 1, spines 2"), std::string::npos) << fabric.out;
  CtlRun down = Ctl(dir_, "fabric link-down leaf-1 spine-1 --reason 'optics'");
  ASSERT_EQ(down.code, 0) << down.out;
  EXPECT_NE(down.out.find("link leaf-1 - spine-1: down"), std::string::npos) << down.out;
  EXPECT_NE(Ctl(dir_, "fabric").out.find("down: leaf-1 - spine-1"), std::string::npos);
  CtlRun unknown = Ctl(dir_, "fabric link-down leaf-9 spine-1");
  EXPECT_EQ(unknown.code, 4) << unknown.out;
  EXPECT_NE(unknown.out.find("no leaf named 'leaf-9'"), std::string::npos) << unknown.out;
  CtlRun sideways = Ctl(dir_, "plan job job-000042");
  EXPECT_EQ(sideways.code, 4) << sideways.out;
  const json events = Get("/v1/events?since=0&limit=1000")["events"];
  bool event = false;
  for (const auto& e : events) event = event || (e.value("kind", "") == "fabric.link" && e.value("reason", "") == "optics");
  EXPECT_TRUE(event) << "the report is an event: " << events.dump();
}

TEST(DaemonConfigE2E, BadConfigsExitWithTheLine) {
  const std::string dir = bulwark::testing::UniqueTempDir();
  std::ofstream(dir + "/c.yaml") << "listen: 127.0.0.1:0\nheartbeat:\n  interval_ms: soon\n";
  const std::string cmd = std::string(BULWARK_CONTROLLER) + " --config " + dir + "/c.yaml 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[512] = {};
  std::fread(buf, 1, sizeof(buf) - 1, p);
  EXPECT_EQ(WEXITSTATUS(::pclose(p)), 2);
  EXPECT_NE(std::string(buf).find("c.yaml:3: heartbeat.interval_ms: must be an integer, got 'soon'"), std::string::npos) << buf;
}

}  // namespace
}  // namespace bulwark
