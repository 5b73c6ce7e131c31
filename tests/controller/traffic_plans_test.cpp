// Jobs' traffic plans on the cluster model (real RocksDB, explicit clocks, agents played by
// the test): a plan at launch with each node's source ports, a replan when a fabric link
// goes down that moves only the flows on it, a fresh plan when it comes back, a relaunch
// onto a spare, a controller restart, and bad requests refused by name.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/strict_json.h"
#include "controller/cluster.h"
#include "controller/traffic_plans.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

// Two leaves of two hosts each and two spines: n1, n2 on leaf-a; n3, s1 on leaf-b.
netplan::Topology Fabric() {
  auto t = netplan::ParseTopology(R"(
name: test-fabric
link_gbps: 100
spines: [{name: spine-1}, {name: spine-2}]
leaves: [{name: leaf-a}, {name: leaf-b}]
hosts:
  - {name: n1, nics: [{name: eth0, leaf: leaf-a, gbps: 100}]}
  - {name: n2, nics: [{name: eth0, leaf: leaf-a, gbps: 100}]}
  - {name: n3, nics: [{name: eth0, leaf: leaf-b, gbps: 100}]}
  - {name: s1, nics: [{name: eth0, leaf: leaf-b, gbps: 100}]}
)",
                                  "test-fabric.yaml");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.value();
}

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
  o.missed_beats = 30;
  o.launch.mpirun = "/bin/mpirun";
  return o;
}

JobSpec Spec() {
  return ParseJobSpec({{"name", "train"},
                       {"command", {"/bin/train"}},
                       {"nodes", 3},
                       {"snapshot", {{"k", 2}, {"m", 1}}},
                       {"traffic", {{"collective", "allreduce"}, {"bytes", 1 << 28}, {"channels_per_nic", 4}}}});
}

// The cluster and its traffic plans, wired as the controller's Api wires them.
struct Model {
  explicit Model(const std::string& db, std::optional<netplan::Topology> t = Fabric())
      : store(StateStore::Open(db).value()), cluster(store.get(), Options(), "i1"), plans(&cluster, std::move(t)) {
    cluster.Load(0);
    plans.Load();
    cluster.set_on_launch([this](const JobRecord& job, int64_t now) { plans.JobLaunched(job, now); });
  }
  std::unique_ptr<StateStore> store;
  Cluster cluster;
  TrafficPlans plans;
};

void RegisterNodes(Cluster& c) {
  c.Register(Info("n1", "r1"), 1, 0);
  c.Register(Info("n2", "r1"), 1, 0);
  c.Register(Info("n3", "r2"), 1, 0);
  c.Register(Info("s1", "r3", "spare"), 1, 0);
}

std::optional<Command> Newest(const Cluster& c, const std::string& node, const std::string& kind) {
  std::optional<Command> found;
  for (const auto& cmd : c.CommandsAfter(node, 0)) {
    if (cmd.kind == kind) found = cmd;
  }
  return found;
}

// Every spine a node's flows take, per the plan's answer for that node.
std::vector<std::string> SpinesOf(const json& plan) {
  std::vector<std::string> out;
  for (const auto& f : plan["flows"]) {
    for (const auto& p : f["paths"]) out.push_back(p["spine"]);
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(TrafficPlansTest, ALaunchIsPlannedAtTheBoundAndEachNodeGetsThePortsOfItsFlows) {
  Model m(bulwark::testing::UniqueTempDir() + "/db");
  RegisterNodes(m.cluster);
  m.cluster.SubmitJob(Spec(), 10);

  const json plan = m.plans.JobPlan("job-000001", "");
  ASSERT_TRUE(plan["planned"].get<bool>()) << plan.dump(2);
  EXPECT_EQ(plan["generation"], 1);
  EXPECT_EQ(plan["nodes"], json::array({"n1", "n2", "n3"}));
  EXPECT_EQ(plan["history"][0]["trigger"], "launch");
  EXPECT_NEAR(plan["max_load_over_bound"].get<double>(), 1.0, 1e-9);
  ASSERT_EQ(plan["phases"].size(), 1u);
  EXPECT_EQ(plan["phases"][0]["flows"], 12) << "a ring of 3 hosts, 4 channels";
  EXPECT_EQ(plan["phases"][0]["inter_leaf_flows"], 8) << "n2 -> n3 and n3 -> n1, each way over the spines";

  for (const char* node : {"n1", "n2", "n3"}) {
    auto ports = Newest(m.cluster, node, "flow_ports");
    ASSERT_TRUE(ports) << node;
    EXPECT_EQ(ports->args["job"], "job-000001");
    EXPECT_EQ(ports->args["generation"], 1);
    ASSERT_EQ(ports->args["flows"].size(), 4u) << node << " sends one flow per channel";
    for (const auto& f : ports->args["flows"]) {
      EXPECT_EQ(f["src"].get<std::string>().rfind(std::string(node) + "/", 0), 0u) << f.dump();
      for (const auto& p : f["paths"]) EXPECT_GE(p["src_port"].get<int>(), 49152) << "a steering port in the dynamic range";
    }
  }
  EXPECT_FALSE(Newest(m.cluster, "s1", "flow_ports")) << "the spare runs nothing of the job";
  // Four channels from n3 to n1 over two spines: two each, at the bound.
  const auto spines = SpinesOf(m.plans.JobPlan("job-000001", "n3"));
  EXPECT_EQ(std::count(spines.begin(), spines.end(), "spine-1"), 2);
  EXPECT_EQ(std::count(spines.begin(), spines.end(), "spine-2"), 2);
}

TEST(TrafficPlansTest, ALinkDownMovesOnlyItsFlowsAndALinkBackPlansAfresh) {
  Model m(bulwark::testing::UniqueTempDir() + "/db");
  RegisterNodes(m.cluster);
  m.cluster.SubmitJob(Spec(), 10);
  auto launch = Newest(m.cluster, "n1", "launch_job");
  ASSERT_TRUE(launch);
  m.cluster.CommandResult("n1", launch->id, {{"ok", true}, {"result", {{"pid", 1}}}}, 20);
  ASSERT_EQ(m.cluster.Job("job-000001")["state"], "running");

  const json down = m.plans.SetLink({{"leaf", "leaf-b"}, {"spine", "spine-2"}, {"state", "down"}, {"reason", "optics"}}, 30);
  EXPECT_TRUE(down["changed"].get<bool>());
  ASSERT_EQ(down["replanned"].size(), 1u);
  EXPECT_EQ(down["replanned"][0]["moved_flows"], 4) << "half of the 8 inter-leaf flows crossed spine-2";
  for (const char* node : {"n2", "n3"}) {
    EXPECT_FALSE(Has(SpinesOf(m.plans.JobPlan("job-000001", node)), "spine-2")) << node << " still sends over the failed link";
    auto ports = Newest(m.cluster, node, "flow_ports");
    ASSERT_TRUE(ports);
    EXPECT_EQ(ports->args["generation"], 2) << "the agents get the new ports";
  }
  json plan = m.plans.JobPlan("job-000001", "");
  EXPECT_EQ(plan["history"][1]["trigger"], "link leaf-b-spine-2 down");
  EXPECT_NEAR(plan["max_load_over_bound"].get<double>(), 1.0, 1e-9) << "one spine left: its links carry everything";
  EXPECT_EQ(m.plans.Fabric()["links_down"], json::array({{{"leaf", "leaf-b"}, {"spine", "spine-2"}}}));

  const json again = m.plans.SetLink({{"leaf", "leaf-b"}, {"spine", "spine-2"}, {"state", "down"}}, 40);
  EXPECT_FALSE(again["changed"].get<bool>());
  EXPECT_TRUE(again["replanned"].empty()) << "nothing changed: nothing replanned";

  const json up = m.plans.SetLink({{"leaf", "leaf-b"}, {"spine", "spine-2"}, {"state", "up"}}, 50);
  ASSERT_EQ(up["replanned"].size(), 1u);
  EXPECT_GT(up["replanned"][0]["moved_flows"].get<int>(), 0);
  EXPECT_TRUE(Has(SpinesOf(m.plans.JobPlan("job-000001", "n3")), "spine-2")) << "the link back is used again";
  EXPECT_TRUE(m.plans.Fabric()["links_down"].empty());

  // Events: the link and each plan, in order.
  std::vector<std::string> kinds;
  for (const auto& e : m.cluster.Events(0, 1000)) {
    const std::string k = e["kind"];
    if (k == "fabric.link" || k == "traffic.planned") kinds.push_back(k);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"traffic.planned", "fabric.link", "traffic.planned", "fabric.link", "traffic.planned"}));
}

TEST(TrafficPlansTest, ARelaunchOnTheSpareIsPlannedAgainAndARestartKeepsPlansAndLinks) {
  const std::string db = bulwark::testing::UniqueTempDir() + "/db";
  {
    Model m(db);
    RegisterNodes(m.cluster);
    m.cluster.SubmitJob(Spec(), 10);
    auto launch = Newest(m.cluster, "n1", "launch_job");
    m.cluster.CommandResult("n1", launch->id, {{"ok", true}, {"result", {{"pid", 1}}}}, 20);
    m.plans.SetLink({{"leaf", "leaf-a"}, {"spine", "spine-1"}, {"state", "down"}}, 30);
    // A rank dies on n2: the job is recovered on the spare, and its relaunch planned there.
    m.cluster.set_snapshot_source([](const std::string&) { return Cluster::SnapshotProgress{41, 42}; });
    m.cluster.AgentEvents(
        "n2", {{"events", {{{"kind", "rank.ring_lost"}, {"time_ms", 100}, {"detail", {{"rank", 1}, {"pid", 101}, {"job", "job-000001"}, {"why", "gone"}}}}}}},
        100, 100);
    m.cluster.Diagnose(1100, 1100);
    for (const char* n : {"n1", "n2", "n3"}) {
      for (const auto& c : m.cluster.CommandsAfter(n, 0)) {
        if (c.kind == "stop_job" && c.state == "queued") m.cluster.CommandResult(n, c.id, {{"ok", true}, {"result", json::object()}}, 1200);
      }
    }
    const json plan = m.plans.JobPlan("job-000001", "");
    ASSERT_EQ(plan["nodes"], json::array({"n1", "s1", "n3"})) << m.cluster.Job("job-000001").dump(2);
    EXPECT_EQ(plan["history"].back()["trigger"], "relaunch");
    EXPECT_EQ(plan["attempt"], 2);
    EXPECT_TRUE(Newest(m.cluster, "s1", "flow_ports")) << "the spare gets its ports";
    EXPECT_FALSE(Has(SpinesOf(m.plans.JobPlan("job-000001", "n1")), "spine-1")) << "the link down is still avoided";
  }
  Model restarted(db);
  const json plan = restarted.plans.JobPlan("job-000001", "n1");
  ASSERT_TRUE(plan["planned"].get<bool>()) << plan.dump(2);
  EXPECT_EQ(plan["nodes"], json::array({"n1", "s1", "n3"}));
  EXPECT_FALSE(Has(SpinesOf(plan), "spine-1"));
  EXPECT_EQ(restarted.plans.Fabric()["links_down"].size(), 1u) << "the link is still down after the restart";
  const int generation = plan["generation"];
  // The restored plan is replanned like any other.
  const json up = restarted.plans.SetLink({{"leaf", "leaf-a"}, {"spine", "spine-1"}, {"state", "up"}}, 60);
  EXPECT_EQ(restarted.plans.JobPlan("job-000001", "")["generation"], generation + 1) << up.dump(2);
}

TEST(TrafficPlansTest, BadRequestsAreRefusedByName) {
  Model m(bulwark::testing::UniqueTempDir() + "/db");
  RegisterNodes(m.cluster);
  auto status = [&](const json& body) {
    try {
      m.plans.SetLink(body, 1);
    } catch (const ApiError& e) {
      return std::to_string(e.status()) + " " + e.what();
    } catch (const JsonError& e) {  // the API answers 400
      return std::string("400 ") + e.what();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(status({{"leaf", "leaf-z"}, {"spine", "spine-1"}, {"state", "down"}}), "404 no leaf named 'leaf-z' in the topology 'test-fabric'");
  EXPECT_EQ(status({{"leaf", "leaf-a"}, {"spine", "spine-9"}, {"state", "down"}}), "404 no spine named 'spine-9' in the topology 'test-fabric'");
  EXPECT_NE(status({{"leaf", "leaf-a"}, {"spine", "spine-1"}, {"state", "sideways"}}).find("must be 'down' or 'up'"), std::string::npos);
  EXPECT_NE(status({{"leaf", "leaf-a"}, {"state", "down"}}).find("spine"), std::string::npos);
  EXPECT_TRUE(m.plans.Fabric()["links_down"].empty()) << "nothing refused was stored";
  EXPECT_THROW(m.plans.JobPlan("job-000042", ""), ApiError);
  m.cluster.SubmitJob(Spec(), 10);
  try {
    m.plans.JobPlan("job-000001", "s1");
    ADD_FAILURE() << "a node outside the job";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_STREQ(e.what(), "node s1 is not in the plan of job-000001");
  }
  EXPECT_THROW(ParseJobSpec({{"name", "x"}, {"command", {"/bin/x"}}, {"traffic", {{"collective", "gossip"}}}}), JsonError);

  Model unconfigured(bulwark::testing::UniqueTempDir() + "/db-unconfigured", std::nullopt);
  EXPECT_FALSE(unconfigured.plans.Fabric()["configured"].get<bool>());
  try {
    unconfigured.plans.SetLink({{"leaf", "leaf-a"}, {"spine", "spine-1"}, {"state", "down"}}, 1);
    ADD_FAILURE() << "no topology";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
}

TEST(TrafficPlansTest, AJobOnNodesOutsideTheTopologySaysWhyItIsNotPlanned) {
  Model m(bulwark::testing::UniqueTempDir() + "/db");
  m.cluster.Register(Info("n1", "r1"), 1, 0);
  m.cluster.Register(Info("other", "r9"), 1, 0);
  JobSpec spec = Spec();
  spec.nodes = 2;
  m.cluster.SubmitJob(spec, 10);
  const json plan = m.plans.JobPlan("job-000001", "");
  EXPECT_FALSE(plan["planned"].get<bool>());
  EXPECT_EQ(plan["reason"], "node other is not a host of the topology 'test-fabric'");
}

}  // namespace
}  // namespace bulwark::controller
