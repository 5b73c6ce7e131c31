// Issue 5 with real processes: a local cluster (controller + agents), bulwark-train under
// mpirun with one rank per logical node (each rank's snapshot prefix and agent URL set per
// MPMD context, as an agent would set them for the ranks it starts), real TCP between the
// agents. Every case ends bit-identical to a run that never failed, or fails loudly.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/http_client.h"
#include "common/token.h"
#include "tests/support/process_job.h"
#include "tests/support/temp_dir.h"

namespace bulwark {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTiny = std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml";
constexpr int kSteps = 30;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<json> Steps(const std::string& out) {
  std::vector<json> steps;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("{\"step\"", 0) == 0) steps.push_back(json::parse(line));
  }
  return steps;
}

int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

// The final digest of an uninterrupted run (no snapshots, no agents): the reference.
std::string ReferenceDigest() {
  static std::string digest = [] {
    testing::ProcessJob job({BULWARK_MPIRUN, "-np", "4", BULWARK_TRAIN_BIN, "--config", kTiny, "--steps", std::to_string(kSteps)});
    EXPECT_EQ(job.Wait(), 0) << job.err();
    auto steps = Steps(job.out());
    return steps.empty() ? std::string() : steps.back()["digest"].get<std::string>();
  }();
  return digest;
}

class SnapshotE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::UniqueTempDir() + "/cluster";
    ASSERT_EQ(Shell(std::string(BULWARK_CTL) + " --dir " + dir_ +
                  " cluster up --nodes 4 --spares 3 --heartbeat-ms 200 --snapshot-k 2 --snapshot-m 2 >" + dir_ +
                  ".up.log 2>&1"),
              0)
        << Slurp(dir_ + ".up.log");
    state_ = json::parse(Slurp(dir_ + "/cluster.json"));
    url_ = state_["controller"]["url"];
    token_ = ReadTokenFile(state_["operator_token_file"]).value();
    job_ = "e2e" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    job_ = job_.substr(0, 31);
  }
  void TearDown() override {
    Shell(std::string(BULWARK_CTL) + " --dir " + dir_ + " cluster down >/dev/null 2>&1");
    // cluster down frees the nodes' memory: a later cluster must not meet these slots.
    for (const auto& a : state_["agents"]) EXPECT_EQ(RemoveShm(a["name"]), 0) << a["name"] << "'s shared memory outlived cluster down";
  }

  std::string Prefix(const std::string& node) {
    const std::string yaml = Slurp(dir_ + "/nodes/" + node + "/agent.yaml");
    const size_t at = yaml.find("shm_prefix: /");
    return yaml.substr(at + 13, yaml.find('\n', at) - at - 13);
  }
  std::string AgentUrl(const std::string& node) { return "http://" + Trim(Slurp(dir_ + "/nodes/" + node + "/agent.addr")); }
  int AgentPid(const std::string& node) {
    for (const auto& a : state_["agents"]) {
      if (a["name"] == node) return a["pid"];
    }
    return -1;
  }
  // Returns how many objects it removed.
  int RemoveShm(const std::string& node) {
    const std::string head = Prefix(node) + ".";
    int removed = 0;
    for (const auto& e : fs::directory_iterator("/dev/shm")) {
      if (e.path().filename().string().rfind(head, 0) == 0) removed += fs::remove(e.path()) ? 1 : 0;
    }
    return removed;
  }
  // A whole node lost: its agent killed and its memory gone.
  void LoseNode(const std::string& node) {
    ::kill(AgentPid(node), SIGKILL);
    RemoveShm(node);
  }

  // bulwark-train with rank i on nodes[i].
  std::unique_ptr<testing::ProcessJob> Train(const std::vector<std::string>& nodes, std::vector<std::string> extra,
                                             std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {BULWARK_MPIRUN};
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i > 0) argv.push_back(":");
      for (const std::string& a : {std::string("-np"), std::string("1"), std::string("env"), "BULWARK_SNAPSHOT_PREFIX=" + Prefix(nodes[i]),
                                   "BULWARK_AGENT_URL=" + AgentUrl(nodes[i]), "BULWARK_JOB_ID=" + job_,
                                   std::string(BULWARK_TRAIN_BIN), std::string("--config"), kTiny, std::string("--steps"),
                                   std::to_string(kSteps), std::string("--snapshot-every"), std::string("1")}) {
        argv.push_back(a);
      }
      argv.insert(argv.end(), extra.begin(), extra.end());
    }
    return std::make_unique<testing::ProcessJob>(argv, env);
  }

  json View() {
    http::Client client(url_, token_, 5000);
    auto r = client.Send("GET", "/v1/jobs/" + job_ + "/snapshots");
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().message());
    return r.ok() ? json::parse(r->body) : json();
  }

  // Runs the job until rank 0 crashes after step 20, and returns the recovery point.
  uint64_t CrashAfterProtecting(const std::vector<std::string>& nodes) {
    auto crashed = Train(nodes, {}, {{"BULWARK_FAULTS", "crash:step=21:rank=0"}});
    EXPECT_NE(crashed->Wait(), 0);
    const json view = View();
    EXPECT_TRUE(view["recovery_point"].is_number()) << view.dump();
    return view["recovery_point"].is_number() ? view["recovery_point"].get<uint64_t>() : 0;
  }

  // group 0's data and parity holders, as the controller planned them.
  std::pair<std::vector<std::string>, std::vector<std::string>> Group0() {
    const json view = View();
    return {view["groups"][0]["data"], view["groups"][0]["parity"]};
  }

  std::string dir_, url_, token_, job_;
  json state_;
};

const std::vector<std::string> kNodes = {"node-01", "node-02", "node-03", "node-04"};

std::vector<std::string> Replace(std::vector<std::string> nodes, const std::map<std::string, std::string>& by) {
  for (auto& n : nodes) {
    if (by.count(n)) n = by.at(n);
  }
  return nodes;
}

// (b) + (c): both data nodes of a group lost at once (m = 2), fresh agents with empty memory
// stand in for them, and the job resumes at the recovery point with the same final bits.
TEST_F(SnapshotE2E, MNodesOfAGroupLostAreRebuiltFromPeersBitIdentical) {
  const std::string want = ReferenceDigest();
  const uint64_t point = CrashAfterProtecting(kNodes);
  ASSERT_GE(point, 19u);
  auto [data, parity] = Group0();
  ASSERT_EQ(data.size(), 2u);
  for (const auto& n : data) LoseNode(n);
  const auto nodes = Replace(kNodes, {{data[0], "spare-01"}, {data[1], "spare-02"}});
  auto resumed = Train(nodes, {"--restore-from-memory"});
  ASSERT_EQ(resumed->Wait(), 0) << resumed->err();
  EXPECT_NE(resumed->err().find("restored step " + std::to_string(point) + " from memory"), std::string::npos) << resumed->err();
  EXPECT_NE(resumed->err().find("from peers"), std::string::npos) << resumed->err();
  const auto steps = Steps(resumed->out());
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front()["step"], point + 1);
  EXPECT_EQ(steps.back()["digest"], want) << "the final parameters equal the uninterrupted run's";
  // The stand-ins report the rebuilt steps as theirs, and protection goes on with them to
  // the last step (the agents finish protecting it after the job exits).
  json latest;
  for (int i = 0; i < 300 && latest != kSteps; ++i) {
    latest = View()["recovery_point"];
    if (latest != kSteps) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(latest, kSteps);
}

// (d): the first fragment the rebuild asks for is corrupted in its holder's memory: it is
// refused, another one is used, and the result is still bit-identical.
TEST_F(SnapshotE2E, ACorruptedFragmentIsDetectedAndAnotherIsUsed) {
  const std::string want = ReferenceDigest();
  const uint64_t point = CrashAfterProtecting(kNodes);
  auto [data, parity] = Group0();
  const fs::path fragment = "/dev/shm/" + Prefix(parity[0]) + "." + job_ + ".g0.p2.s" + std::to_string(point);
  ASSERT_TRUE(fs::exists(fragment)) << fragment;
  {
    std::fstream f(fragment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(640 + 1000);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(640 + 1000);
    f.write(&c, 1);
  }
  LoseNode(data[0]);
  auto resumed = Train(Replace(kNodes, {{data[0], "spare-01"}}), {"--restore-from-memory"});
  ASSERT_EQ(resumed->Wait(), 0) << resumed->err();
  const std::string log = Slurp(dir_ + "/logs/spare-01.log");
  EXPECT_NE(log.find("fragment 2 from " + parity[0] + ": from "), std::string::npos) << log;
  EXPECT_NE(log.find("payload checksum mismatch"), std::string::npos) << log;
  EXPECT_NE(resumed->err().find("restored step " + std::to_string(point) + " from memory"), std::string::npos) << resumed->err();
  EXPECT_EQ(Steps(resumed->out()).back()["digest"], want);
}

// (e): m + 1 blocks of a group lost: the rebuild fails with an error naming the ranks and
// the step, nothing is restored, and the job starts over (and still ends with the same bits).
TEST_F(SnapshotE2E, MoreThanMLossesFailClearlyAndRestoreNothing) {
  const std::string want = ReferenceDigest();
  const uint64_t point = CrashAfterProtecting(kNodes);
  auto [data, parity] = Group0();
  for (const auto& n : data) LoseNode(n);
  LoseNode(parity[0]);
  auto resumed = Train(Replace(kNodes, {{data[0], "spare-01"}, {data[1], "spare-02"}, {parity[0], "spare-03"}}),
                       {"--restore-from-memory"});
  ASSERT_EQ(resumed->Wait(), 0) << resumed->err();
  const std::string err = resumed->err();
  EXPECT_NE(err.find("cannot rebuild ranks"), std::string::npos) << err;
  EXPECT_NE(err.find("at step " + std::to_string(point)), std::string::npos) << err;
  EXPECT_NE(err.find("more than m=2 lost"), std::string::npos) << err;
  EXPECT_NE(err.find("nothing restored from memory"), std::string::npos) << err;
  const auto steps = Steps(resumed->out());
  ASSERT_EQ(steps.size(), static_cast<size_t>(kSteps));
  EXPECT_EQ(steps.front()["step"], 1);
  EXPECT_EQ(steps.back()["digest"], want);
}

}  // namespace
}  // namespace bulwark
