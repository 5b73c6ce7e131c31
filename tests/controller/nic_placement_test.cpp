// NIC-aware placement in the controller: a job with a model is placed by NIC (pure, and on
// the cluster model with real RocksDB), its layer split reaches the ranks, and the spare
// that replaces a fenced node is the one that keeps the modelled iteration time lowest.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "common/strict_json.h"
#include "controller/cluster.h"
#include "controller/controller_config.h"
#include "controller/placement.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

// Four workers whose names interleave two NIC classes: name order mixes them in every group.
const json kModelJob = {{"name", "gpt"},
                        {"command", {"/bin/train"}},
                        {"nodes", 4},
                        {"ranks_per_node", 8},
                        {"model", {{"pipeline_stages", 2}, {"layers", 24}, {"hidden", 4096}, {"micro_batches", 8}}}};

PlacementCandidate Candidate(const std::string& name, const std::string& nic, bool spare = false) {
  return {name, "rack-" + name, {nic}, spare};
}

netplan::NicFabric Fabric() { return {netplan::DefaultNicClasses(), "ethernet"}; }

std::vector<std::string> StageClasses(const std::vector<std::string>& placement) {
  std::vector<std::string> classes;
  for (const auto& n : placement) classes.push_back(n.substr(n.find('-') + 1));
  return classes;
}

TEST(NicPlacementTest, AModelJobGetsOneNicClassPerStageAndMoreLayersOnTheFasterOne) {
  const JobSpec spec = ParseJobSpec(kModelJob);
  const std::vector<PlacementCandidate> free = {Candidate("a-ib", "ib"), Candidate("b-ethernet", "ethernet"),
                                                Candidate("c-ib", "ib"), Candidate("d-ethernet", "ethernet"),
                                                Candidate("s-ib", "ib", true)};
  auto placed = PlaceModelJob(spec, Fabric(), free);
  ASSERT_TRUE(placed.ok()) << placed.status().message();
  const std::vector<std::string> classes = StageClasses(placed->nodes);
  EXPECT_EQ(classes[0], classes[1]) << "stage 0's data-parallel pair shares a class";
  EXPECT_EQ(classes[2], classes[3]);
  EXPECT_NE(classes[0], classes[2]);
  EXPECT_EQ(std::count(placed->nodes.begin(), placed->nodes.end(), "s-ib"), 0) << "spares wait for recoveries";
  ASSERT_EQ(placed->stage_layers.size(), 2u);
  EXPECT_EQ(placed->stage_layers[0] + placed->stage_layers[1], 24);
  const int ib_stage = classes[0] == "ib" ? 0 : 1;
  EXPECT_GT(placed->stage_layers[ib_stage], placed->stage_layers[1 - ib_stage]);
  EXPECT_LT(placed->iteration_s, placed->rank_order_s * 0.9);

  JobSpec big = spec;
  big.nodes = 6;
  EXPECT_EQ(PlaceModelJob(big, Fabric(), free).status().message(),
            "needs 6 free healthy worker nodes with NIC class 'any'; 4 qualify");
}

TEST(NicPlacementTest, TheModelPicksTheSpareBeforeNameAndDomainRulesDo) {
  const std::vector<PlacementCandidate> free = {Candidate("s1-ethernet", "ethernet", true), Candidate("s2-ib", "ib", true)};
  EXPECT_EQ(ChooseReplacement("any", "rack-x", {}, free), "s1-ethernet") << "without a model: by name";
  auto modelled = [](const PlacementCandidate& c) { return c.nic_types[0] == "ib" ? 1.0 : 1.5; };
  EXPECT_EQ(ChooseReplacement("any", "rack-x", {}, free, modelled), "s2-ib");
  auto close = [](const PlacementCandidate& c) { return c.nic_types[0] == "ib" ? 1.0 : 1.005; };
  EXPECT_EQ(ChooseReplacement("any", "rack-x", {}, free, close), "s1-ethernet") << "within 1%: the other rules decide";
}

TEST(NicPlacementTest, TheModelSectionIsCheckedAndKeptThroughStorage) {
  json bad = kModelJob;
  bad["model"]["pipeline_stages"] = 3;
  try {
    ParseJobSpec(bad);
    FAIL() << "3 stages over 4 nodes must be refused";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.path(), "model.pipeline_stages");
    EXPECT_NE(std::string(e.what()).find("do not divide the job's 4 nodes"), std::string::npos) << e.what();
  }
  bad = kModelJob;
  bad["model"]["layres"] = 3;
  EXPECT_THROW(ParseJobSpec(bad), JsonError) << "a misspelt key";
  const JobSpec spec = ParseJobSpec(kModelJob);
  const JobSpec again = ParseJobSpec(ToJson(spec));
  EXPECT_TRUE(again.model.set);
  EXPECT_EQ(again.model.layers, 24);
  EXPECT_FALSE(ParseJobSpec(json{{"name", "x"}, {"command", {"/bin/x"}}}).model.set);
  EXPECT_FALSE(ToJson(ParseJobSpec(json{{"name", "x"}, {"command", {"/bin/x"}}})).contains("model"));
}

TEST(NicPlacementTest, TheControllerConfigSetsTheClassesSpeedsAndRefusesAnUnknownClass) {
  const std::string auth = "auth: {agent_token_file: /a, operator_token_file: /o}\n";
  auto config = ParseControllerConfig(auth + "placement:\n  nic_classes:\n    - {name: ethernet, gbps: 400, latency_us: 8}\n",
                                      "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const netplan::NicClass* eth = config->placement_fabric.Find("ethernet");
  ASSERT_NE(eth, nullptr);
  EXPECT_EQ(eth->gbps, 400);
  EXPECT_EQ(eth->latency_us, 8);
  EXPECT_EQ(config->placement_fabric.Find("ib")->gbps, netplan::DefaultNicClasses()[0].gbps) << "the others keep the defaults";
  config = ParseControllerConfig(auth + "placement:\n  nic_classes:\n    - {name: omnipath, gbps: 100}\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("c.yaml:4: placement.nic_classes[0].name"), std::string::npos)
      << config.status().message();
}

NodeInfo Info(const std::string& name, const std::string& nic, const std::string& role = "worker") {
  NodeInfo info;
  info.name = name;
  info.role = role;
  info.rack = "rack-" + name;
  info.agent_url = "http://" + name;
  info.nics.push_back({"nic0", nic, 100, 0, "127.0.0.1"});
  return info;
}

std::optional<Command> Newest(const Cluster& c, const std::string& node, const std::string& kind) {
  std::optional<Command> found;
  for (const auto& cmd : c.CommandsAfter(node, 0)) {
    if (cmd.kind == kind && cmd.state == "queued") found = cmd;
  }
  return found;
}

TEST(NicPlacementTest, TheClusterLaunchesByNicAndReplacesAFencedIbNodeWithTheIbSpare) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  ClusterOptions o;
  o.heartbeat_interval_ms = 1000;
  o.missed_beats = 30;
  o.launch.mpirun = "/bin/mpirun";
  Cluster c(store->get(), o, "i1");
  c.Load(0);
  for (const char* n : {"a-ib", "b-ethernet", "c-ib", "d-ethernet"}) c.Register(Info(n, std::string(n).substr(2)), 1, 0);
  c.Register(Info("s1-ethernet", "ethernet", "spare"), 1, 0);  // first by name and domain rules
  c.Register(Info("s2-ib", "ib", "spare"), 1, 0);

  json job = c.SubmitJob(ParseJobSpec(kModelJob), 10);
  const auto placement = job["placement"].get<std::vector<std::string>>();
  const std::vector<std::string> classes = StageClasses(placement);
  EXPECT_EQ(classes[0], classes[1]);
  EXPECT_EQ(classes[2], classes[3]);
  const auto layers = job["stage_layers"].get<std::vector<int>>();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0] + layers[1], 24);
  auto launch = Newest(c, placement.front(), "launch_job");
  ASSERT_TRUE(launch) << "the job's first node launches it";
  const auto argv = launch->args["argv"].get<std::vector<std::string>>();
  const std::string env = "BULWARK_PIPELINE_LAYERS=" + std::to_string(layers[0]) + "," + std::to_string(layers[1]);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), env), 4) << "every node's ranks get the split";
  bool placed_event = false;
  for (const json& e : c.Events(0, 1000)) {
    if (e["kind"] == "job.placed") {
      placed_event = true;
      EXPECT_LT(e["modelled_iteration_s"].get<double>(), e["rank_order_iteration_s"].get<double>());
    }
  }
  EXPECT_TRUE(placed_event);
  c.CommandResult(launch->node, launch->id, {{"ok", true}, {"result", {{"pid", 1}}}}, 20);

  // a-ib's rank dies: the IB spare takes its place (the Ethernet one would put stage's
  // all-reduce on Ethernet), though name order and the domain rules tie them.
  c.AgentEvents("a-ib", {{"events", {{{"kind", "rank.ring_lost"}, {"time_ms", 100},
                                      {"detail", {{"rank", 0}, {"pid", 100}, {"job", "job-000001"}, {"why", "gone"}}}}}}},
                100, 100);
  c.Diagnose(1100, 1100);
  for (const auto& node : c.Nodes(0)) {
    while (auto stop = Newest(c, node["name"], "stop_job")) {
      c.CommandResult(stop->node, stop->id, {{"ok", true}, {"result", {{"pid", 1}}}}, 1200);
    }
  }
  job = c.Job("job-000001");
  EXPECT_EQ(job["recovery"]["phase"], "relaunch") << job.dump();
  std::vector<std::string> after = placement;
  std::replace(after.begin(), after.end(), std::string("a-ib"), std::string("s2-ib"));
  EXPECT_EQ(job["placement"].get<std::vector<std::string>>(), after);
  EXPECT_EQ(job["stage_layers"].get<std::vector<int>>(), layers) << "the snapshot holds each stage's layers";
}

}  // namespace
}  // namespace bulwark::controller
