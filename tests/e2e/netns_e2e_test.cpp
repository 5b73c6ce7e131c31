// `cluster up --netns`: nodes in network namespaces of their own, joined by a bridge, and
// link faults made of real packets on their links: delayed (bulwark-netem), dropped
// (a partition), all gone again after `cluster down` — after a crash of the tool too.
// Needs root and a kernel that allows network namespaces; says so and skips elsewhere.
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

struct Ran {
  int code;
  std::string out;
};

Ran Sh(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

Ran Ctl(const std::string& dir, const std::string& args) { return Sh(std::string(BULWARK_CTL) + " --dir " + dir + " " + args); }

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

// Namespaces and links of cluster `id` that this machine still has.
std::string Leftovers(const std::string& id) {
  std::string left;
  for (const std::string& list : {Sh("ip netns list").out, Sh("ip -o link show").out}) {
    std::istringstream in(list);
    for (std::string line; std::getline(in, line);) {
      if (line.find(id) != std::string::npos) left += line + "\n";
    }
  }
  return left;
}

class NetnsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string probe = "bulwark-probe-" + std::to_string(::getpid());
    const Ran can = Sh("ip netns add " + probe);
    if (can.code != 0) GTEST_SKIP() << "network namespaces are not allowed here (ip netns add: " << can.out << ")";
    Sh("ip netns del " + probe);
    dir_ = bulwark::testing::UniqueTempDir() + "/cluster";
  }
  void TearDown() override {
    if (!dir_.empty()) Ctl(dir_, "cluster down");
  }

  void Up() {
    const Ran up = Ctl(dir_, "cluster up --netns --nodes 2 --spares 1 --heartbeat-ms 200 --restart-grace-ms 3000");
    ASSERT_EQ(up.code, 0) << up.out;
    state_ = ReadJson(dir_ + "/cluster.json");
    url_ = state_["controller"]["url"];
    token_ = ReadTokenFile(state_["operator_token_file"]).value();
  }

  json Get(const std::string& path) {
    http::Client c(url_, token_);
    auto r = c.Send("GET", path);
    return r.ok() && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
  }

  json Node(const std::string& name) { return Get("/v1/nodes/" + name); }

  bool WaitFor(const std::function<bool()>& ok, int timeout_ms) {
    const int64_t until = MonotonicMs() + timeout_ms;
    while (MonotonicMs() < until) {
      if (ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ok();
  }

  // Round trip from node-01 to node-02's data plane, as the agents' link probe measures it.
  double LatencyUs() {
    const json peer = {{"peers", {{{"node", "node-02"}, {"address", Node("node-02").value("data_address", std::string())}}}},
                       {"pings", 5}, {"bulk_bytes", 65536}, {"timeout_ms", 10000}};
    const Ran probe = Ctl(dir_, "--json command node-01 probe_links --args '" + peer.dump() + "' --wait");
    EXPECT_EQ(probe.code, 0) << probe.out;
    const json out = json::parse(probe.out, nullptr, false);
    if (out.is_discarded() || !out.contains("result")) return -1;
    return out["result"]["links"][0].value("latency_us", -1.0);
  }

  std::string dir_, url_, token_;
  json state_;
};

TEST_F(NetnsE2E, EachNodeHasANamespaceAnAddressAndALinkOfItsOwn) {
  ASSERT_NO_FATAL_FAILURE(Up());
  const std::string id = state_["id"];
  ASSERT_TRUE(state_.contains("netns"));
  EXPECT_NE(url_.find(state_["netns"]["bridge_address"].get<std::string>()), std::string::npos) << "the controller listens on the bridge";
  for (const auto& a : state_["agents"]) {
    const std::string name = a["name"], netns = a["netns"], address = a["address"];
    const json node = Node(name);
    EXPECT_EQ(node["agent_url"].get<std::string>().find("http://" + address + ":"), 0u) << node.dump();
    EXPECT_EQ(node.value("data_address", std::string()).find(address + ":"), 0u) << node.dump();
    // The agent really runs in that namespace, whose eth0 has the node's address.
    EXPECT_NE(Sh("ip netns pids " + netns).out.find(std::to_string(a["pid"].get<int>())), std::string::npos) << name;
    EXPECT_NE(Sh("ip -n " + netns + " -4 -o addr show dev eth0").out.find(address + "/24"), std::string::npos) << name;
  }
  EXPECT_GT(LatencyUs(), 0) << "node-01 reaches node-02 across the bridge";
  const Ran down = Ctl(dir_, "cluster down");
  EXPECT_EQ(down.code, 0) << down.out;
  EXPECT_NE(down.out.find("removed 3 network namespaces"), std::string::npos) << down.out;
  EXPECT_EQ(Leftovers(id), "") << "cluster down leaves no namespace or link behind";
  dir_.clear();
}

TEST_F(NetnsE2E, ASlowLinkDelaysRealPacketsUntilHealed) {
  ASSERT_NO_FATAL_FAILURE(Up());
  const double before = LatencyUs();
  ASSERT_GT(before, 0);
  const Ran inject = Ctl(dir_, "--json inject slow-link --node node-02 --delay 100ms --for 2m");
  ASSERT_EQ(inject.code, 0) << inject.out;
  const json record = json::parse(inject.out, nullptr, false);
  ASSERT_EQ(record.value("state", ""), "active") << inject.out;
  EXPECT_EQ(record["result"].value("interface", ""), "eth0") << inject.out;
  // Each way through node-02's link: a round trip carries 200 ms more.
  const double slowed = LatencyUs();
  EXPECT_GE(slowed, 190000) << "before " << before << " us";
  const std::string netns = state_["agents"][1]["netns"];
  EXPECT_NE(Sh("ip netns exec " + netns + " iptables -S").out.find("NFQUEUE"), std::string::npos);
  const Ran heal = Ctl(dir_, "heal " + record["id"].get<std::string>());
  ASSERT_EQ(heal.code, 0) << heal.out;
  EXPECT_EQ(Sh("ip netns exec " + netns + " iptables -S").out.find("NFQUEUE"), std::string::npos) << "the heal takes the rules off";
  EXPECT_LT(LatencyUs(), 100000) << "and the packets pass undelayed again";
}

TEST_F(NetnsE2E, APartitionedNodeIsLostThenComesBackWhenItHealsItself) {
  ASSERT_NO_FATAL_FAILURE(Up());
  const Ran inject = Ctl(dir_, "--json inject partition-node --node node-02 --for 6s");
  ASSERT_EQ(inject.code, 0) << inject.out;
  EXPECT_TRUE(WaitFor([&] { return Node("node-02").value("health", "") == "lost"; }, 5000)) << Node("node-02").dump();
  EXPECT_EQ(Node("node-01").value("health", ""), "healthy") << "only the partitioned node is cut off";
  // Its agent heals the link when the duration runs out, with no word from the controller.
  EXPECT_TRUE(WaitFor([&] { return Node("node-02").value("online", false); }, 15000)) << Node("node-02").dump();
  const std::string id = json::parse(inject.out)["id"];
  EXPECT_TRUE(WaitFor([&] { return Get("/v1/injections/" + id).value("state", "") == "healed"; }, 10000))
      << Get("/v1/injections/" + id).dump();
}

TEST_F(NetnsE2E, AFlappingLinkGoesDownAndUpAndEndsUp) {
  ASSERT_NO_FATAL_FAILURE(Up());
  const std::string netns = state_["agents"][1]["netns"];
  const auto link_state = [&] { return Sh("ip -n " + netns + " -o link show dev eth0").out; };
  const Ran inject = Ctl(dir_, "--json inject flap-link --node node-02 --period 1s --down 500ms --for 4s");
  ASSERT_EQ(inject.code, 0) << inject.out;
  int down = 0, up = 0;
  const int64_t until = MonotonicMs() + 3000;
  while (MonotonicMs() < until) {
    const std::string s = link_state();
    if (s.find("state DOWN") != std::string::npos) ++down;
    if (s.find("state UP") != std::string::npos) ++up;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(down, 0) << "the link was seen down";
  EXPECT_GT(up, 0) << "and up again between";
  const std::string id = json::parse(inject.out)["id"];
  EXPECT_TRUE(WaitFor([&] { return Get("/v1/injections/" + id).value("state", "") == "healed"; }, 10000));
  EXPECT_NE(link_state().find("state UP"), std::string::npos) << "it ends up: " << link_state();
  EXPECT_TRUE(WaitFor([&] { return Node("node-02").value("online", false); }, 5000));
}

TEST_F(NetnsE2E, AnAgentKilledUnderAPartitionTakesItsRulesOffWhenItComesBack) {
  ASSERT_NO_FATAL_FAILURE(Up());
  const Ran inject = Ctl(dir_, "--json inject partition-node --node node-02 --for 10m");
  ASSERT_EQ(inject.code, 0) << inject.out;
  const std::string netns = state_["agents"][1]["netns"];
  ASSERT_TRUE(WaitFor([&] { return Sh("ip netns exec " + netns + " iptables -S").out.find("DROP") != std::string::npos; }, 5000));
  const int pid = state_["agents"][1]["pid"];
  ::kill(pid, SIGKILL);  // its rules stay behind
  ASSERT_TRUE(WaitFor([&] { return ::kill(pid, 0) != 0 || Sh("ps -o stat= -p " + std::to_string(pid)).out.find('Z') != std::string::npos; },
                      5000));
  const Ran up = Ctl(dir_, "cluster up");  // starts the agent again
  ASSERT_EQ(up.code, 0) << up.out;
  EXPECT_NE(up.out.find("(1 process started)"), std::string::npos) << up.out;
  // `up` returns once node-02 counts as online, which it still does from before the kill.
  EXPECT_TRUE(WaitFor([&] { return Sh("ip netns exec " + netns + " iptables -S").out.find("DROP") == std::string::npos; }, 5000))
      << Sh("ip netns exec " + netns + " iptables -S").out;
  EXPECT_TRUE(WaitFor([&] { return Node("node-02").value("registrations", 0) >= 2; }, 5000)) << Node("node-02").dump();
}

TEST_F(NetnsE2E, CommandsThatNeedALinkOnALoopbackClusterSayWhy) {
  dir_ = bulwark::testing::UniqueTempDir() + "/loopback";
  const Ran up = Ctl(dir_, "cluster up --nodes 1 --spares 0 --heartbeat-ms 200");
  ASSERT_EQ(up.code, 0) << up.out;
  const Ran inject = Ctl(dir_, "inject lossy-link --node node-01 --loss 5");
  EXPECT_NE(inject.code, 0);
  EXPECT_NE(inject.out.find("cluster up --netns"), std::string::npos) << inject.out;
}

TEST_F(NetnsE2E, DownRemovesEverythingAfterTheToolDiedHalfwayUp) {
  // bulwarkctl killed while it brings the cluster up: namespaces made, agents maybe not.
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(BULWARK_CTL, BULWARK_CTL, "--dir", dir_.c_str(), "cluster", "up", "--netns", "--nodes", "3", "--spares", "1", nullptr);
    ::_exit(127);
  }
  std::string id;
  ASSERT_TRUE(WaitFor(
      [&] {
        const json s = ReadJson(dir_ + "/cluster.json");
        if (!s.is_discarded() && s.contains("id")) id = s["id"];
        return !id.empty() && Sh("ip netns list").out.find("bulwark-" + id) != std::string::npos;
      },
      10000));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  const Ran down = Ctl(dir_, "cluster down");
  EXPECT_EQ(down.code, 0) << down.out;
  EXPECT_EQ(Leftovers(id), "") << down.out;
  dir_.clear();
}

}  // namespace
}  // namespace bulwark
