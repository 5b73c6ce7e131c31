// Issue 6's fault matrix with real processes: a local cluster (controller + 3 agents), a
// 2-rank hooked bulwark-train job (rank 0 on node-01, rank 1 on node-02, each rank's hook
// reporting to its node's agent), faults injected with the trainer's fault points and
// signals. For each case: detected or not, latency, culprit and class, printed as a table
// row; the goals are checked by counts. Clean runs must reach no verdict at all.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

constexpr int kHangMs = 3000;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Row {
  std::string fault;
  bool detected = false;
  int64_t latency_ms = -1;
  double latency_steps = -1;  // for stragglers: the latency in training steps
  std::string verdict, nodes;
  int node_faults = 0;  // verdicts that blame a node
  int verdicts = 0;
};

class FaultMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // No test is running yet, so no per-test temp dir: one per process.
    dir_ = new std::string(::testing::TempDir() + "bulwark-fault-matrix-" + std::to_string(::getpid()));
    fs::create_directories(*dir_);
    *dir_ += "/cluster";
    const std::string cmd = std::string(BULWARK_CTL) + " --dir " + *dir_ +
                            " cluster up --nodes 3 --spares 0 --heartbeat-ms 250 --hang-ms " + std::to_string(kHangMs) +
                            " >" + *dir_ + ".up.log 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << Slurp(*dir_ + ".up.log");
    const json state = json::parse(Slurp(*dir_ + "/cluster.json"));
    url_ = new std::string(state["controller"]["url"].get<std::string>());
    token_ = new std::string(ReadTokenFile(state["operator_token_file"]).value());
    // A mid-sized step (~40 ms): lateness in milliseconds, above scheduling noise.
    config_ = new std::string(*dir_ + "/mid.yaml");
    std::string tiny = Slurp(std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml");
    tiny.replace(tiny.find("micro_batch: 4"), 14, "micro_batch: 24");
    std::ofstream(*config_) << tiny;
  }
  static void TearDownTestSuite() {
    std::system((std::string(BULWARK_CTL) + " --dir " + *dir_ + " cluster down >/dev/null 2>&1").c_str());
    std::printf("\nfault matrix (hang threshold %d ms):\n%-34s %-9s %-21s %-20s %-8s %s\n", kHangMs, "FAULT", "DETECTED",
                "LATENCY", "VERDICT", "NODES", "NODE FAULTS / VERDICTS");
    for (const auto& r : *rows_) {
      std::string latency = r.latency_ms < 0 ? "-" : std::to_string(r.latency_ms) + " ms";
      if (r.latency_steps >= 0) latency += " (" + std::to_string(static_cast<int>(r.latency_steps + 0.5)) + " steps)";
      std::printf("%-34s %-9s %-21s %-20s %-8s %d / %d\n", r.fault.c_str(), r.detected ? "yes" : "no", latency.c_str(),
                  r.verdict.c_str(), r.nodes.c_str(), r.node_faults, r.verdicts);
    }
  }

  static json Incidents() {
    http::Client client(*url_, *token_, 5000);
    auto r = client.Send("GET", "/v1/incidents");
    if (!r.ok() || r->status != 200) return json::array();
    return json::parse(r->body)["incidents"];
  }

  // Whether an incident with this verdict opened after the first `before`.
  static bool OpenedSince(size_t before, const std::string& verdict) {
    const json all = Incidents();
    for (size_t i = before; i < all.size(); ++i) {
      if (all[i]["verdict"] == verdict) return true;
    }
    return false;
  }

  std::string Socket(const std::string& node) {
    const std::string yaml = Slurp(*dir_ + "/nodes/" + node + "/agent.yaml");
    const size_t at = yaml.find("socket: '") + 9;
    return yaml.substr(at, yaml.find('\'', at) - at);
  }

  std::unique_ptr<testing::ProcessJob> Train(int steps, const std::string& faults) {
    // Unbound ranks: pinned to one core each, whatever else runs on a core (agents, the
    // controller, this test) slows only that core's rank, for seconds at a time.
    std::vector<std::string> argv = {BULWARK_MPIRUN, "--bind-to", "none"};
    for (int i = 0; i < 2; ++i) {
      if (i > 0) argv.push_back(":");
      for (const std::string& a :
           {std::string("-np"), std::string("1"), std::string("env"), std::string("LD_PRELOAD=") + BULWARK_PMPI_LIB,
            "BULWARK_AGENT_SOCKET=" + Socket("node-0" + std::to_string(i + 1)), "BULWARK_FAULTS=" + faults,
            std::string(BULWARK_TRAIN_BIN), std::string("--config"), *config_, std::string("--steps"), std::to_string(steps)}) {
        argv.push_back(a);
      }
    }
    return std::make_unique<testing::ProcessJob>(argv);
  }

  // Waits until `done` or the deadline; polls every 20 ms.
  static bool WaitFor(int64_t ms, const std::function<bool()>& done) {
    const int64_t until = MonotonicMs() + ms;
    while (MonotonicMs() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  }

  // The incidents opened since `before`, summarised against the fault's start (wall ms).
  static Row Summarise(const std::string& fault, size_t before, int64_t fault_wall_ms) {
    Row row;
    row.fault = fault;
    const json all = Incidents();
    for (size_t i = before; i < all.size(); ++i) {
      const json& inc = all[i];
      ++row.verdicts;
      // Every verdict of the case with its evidence, so a surprising row can be explained.
      std::printf("  [%s] %s %s, opened %+lld ms from the fault: %s\n", fault.c_str(), inc.value("id", std::string()).c_str(),
                  inc.value("verdict", std::string()).c_str(),
                  static_cast<long long>(inc.value("opened_ms", int64_t{0}) - fault_wall_ms),
                  inc.value("summary", std::string()).c_str());
      std::fflush(stdout);  // before the next case forks a job
      row.node_faults += inc.value("blames_node", false);
      if (!row.detected && inc.value("blames_node", false)) {
        row.detected = true;
        row.verdict = inc["verdict"];
        for (const auto& n : inc["nodes"]) row.nodes += (row.nodes.empty() ? "" : ",") + n.get<std::string>();
        row.latency_ms = inc["opened_ms"].get<int64_t>() - fault_wall_ms;
      } else if (row.verdict.empty()) {
        row.verdict = inc["verdict"];
      }
    }
    rows_->push_back(row);
    return row;
  }

  // The bulwark-train process of rank 1 (on node-02), found by its agent socket.
  pid_t RankOnNode2() {
    const std::string needle = "BULWARK_AGENT_SOCKET=" + Socket("node-02");
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (Slurp(e.path() / "comm").rfind("bulwark-train", 0) != 0) continue;
      std::string env = Slurp(e.path() / "environ");
      for (char& c : env) c = c == '\0' ? '\n' : c;
      if (env.find(needle + "\n") != std::string::npos) return static_cast<pid_t>(std::stoi(name));
    }
    return -1;
  }

  // The median step time the job's leader printed.
  static double MedianStepMs(const std::string& out) {
    std::vector<double> ms;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      const json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("step_ms")) ms.push_back(j["step_ms"].get<double>());
    }
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }

  // Lets self-checks settle the previous case's suspects before the next case starts.
  static void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(1500)); }

  static std::string* dir_;
  static std::string* url_;
  static std::string* token_;
  static std::string* config_;
  static std::vector<Row>* rows_;
};

std::string* FaultMatrix::dir_ = nullptr;
std::string* FaultMatrix::url_ = nullptr;
std::string* FaultMatrix::token_ = nullptr;
std::string* FaultMatrix::config_ = nullptr;
std::vector<Row>* FaultMatrix::rows_ = new std::vector<Row>();

TEST_F(FaultMatrix, Crash) {
  const size_t before = Incidents().size();
  auto job = Train(200, "crash:step=30:rank=1");
  int64_t fault_ms = 0;
  ASSERT_TRUE(WaitFor(60000, [&] {
    if (!fault_ms && job->err().find("\"kind\":\"crash\"") != std::string::npos) fault_ms = WallMs();
    return fault_ms != 0;
  }));
  job->Wait();
  WaitFor(5000, [&] { return Incidents().size() > before; });
  const Row row = Summarise("crash (SIGKILL, rank 1)", before, fault_ms);
  EXPECT_TRUE(row.detected);
  EXPECT_EQ(row.verdict, "crash");
  EXPECT_EQ(row.nodes, "node-02");
  EXPECT_LE(row.latency_ms, 2000) << "goal: a crash verdict within 2 s of the exit";
  EXPECT_EQ(row.node_faults, 1);
  Settle();
}

TEST_F(FaultMatrix, HangBeforeACollective) {
  const size_t before = Incidents().size();
  auto job = Train(200, "hang:step=30:rank=1");
  int64_t fault_ms = 0;
  ASSERT_TRUE(WaitFor(60000, [&] {
    if (!fault_ms && job->err().find("\"kind\":\"hang\"") != std::string::npos) fault_ms = WallMs();
    return fault_ms != 0;
  }));
  WaitFor(kHangMs + 5000, [&] { return OpenedSince(before, "hang"); });
  job->Kill();
  const Row row = Summarise("hang before a collective (rank 1)", before, fault_ms);
  EXPECT_TRUE(row.detected);
  EXPECT_EQ(row.verdict, "hang");
  EXPECT_EQ(row.nodes, "node-02");
  EXPECT_LE(row.latency_ms, kHangMs + 2000) << "goal: a hang verdict within threshold + 2 s";
  Settle();
}

TEST_F(FaultMatrix, RankStoppedBySigstop) {
  const size_t before = Incidents().size();
  auto job = Train(100000, "");
  ASSERT_TRUE(WaitFor(60000, [&] { return job->out().find("{\"step\":30,") != std::string::npos; }));
  const pid_t rank1 = RankOnNode2();
  ASSERT_GT(rank1, 0);
  ::kill(rank1, SIGSTOP);
  const int64_t fault_ms = WallMs();
  WaitFor(kHangMs + 5000, [&] { return OpenedSince(before, "hang"); });
  ::kill(rank1, SIGCONT);
  job->Kill();
  const Row row = Summarise("SIGSTOP (rank 1)", before, fault_ms);
  EXPECT_TRUE(row.detected);
  EXPECT_EQ(row.verdict, "hang");
  EXPECT_EQ(row.nodes, "node-02");
  EXPECT_LE(row.latency_ms, kHangMs + 2000);
  Settle();
}

TEST_F(FaultMatrix, ComputeStragglers) {
  for (int percent : {50, 20}) {
    const size_t before = Incidents().size();
    auto job = Train(200, "slow:step=20:rank=1:percent=" + std::to_string(percent));
    int64_t fault_ms = 0;
    ASSERT_TRUE(WaitFor(60000, [&] {
      if (!fault_ms && job->err().find("\"kind\":\"slow\"") != std::string::npos) fault_ms = WallMs();
      return fault_ms != 0;
    }));
    EXPECT_EQ(job->Wait(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the last telemetry
    Row row = Summarise("straggler +" + std::to_string(percent) + "% (rank 1)", before, fault_ms);
    if (row.detected && MedianStepMs(job->out()) > 0) {
      row.latency_steps = static_cast<double>(row.latency_ms) / MedianStepMs(job->out());
      rows_->back().latency_steps = row.latency_steps;
    }
    if (percent == 50) {
      EXPECT_TRUE(row.detected);
      EXPECT_EQ(row.verdict, "straggler");
      EXPECT_EQ(row.nodes, "node-02");
      EXPECT_LE(row.latency_steps, 20) << "goal: a straggler named within 20 steps";
    }
    // +20% sits inside this machine's noise floor (all nodes share 2 cores: 20-step windows
    // of a clean run reach +26%, so the local cluster asks for 30%); measured, not asserted.
    // Whatever is named must be right.
    if (row.detected) {
      EXPECT_EQ(row.nodes, "node-02");
    }
    EXPECT_LE(row.node_faults, 1);
    Settle();
  }
}

TEST_F(FaultMatrix, ImbalanceIsNotANodeFault) {
  const size_t before = Incidents().size();
  // Each rank 100% slower in its own hashed third of the steps: in 4/9 of the steps exactly
  // one rank is late, and the other loses about 44% of the job's compute time waiting.
  auto job = Train(200, "jitter:step=1:rank=0:percent=100;jitter:step=1:rank=1:percent=100");
  EXPECT_EQ(job->Wait(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const Row row = Summarise("imbalance (jitter 100%, both ranks)", before, WallMs());
  EXPECT_EQ(row.node_faults, 0) << "imbalance must never blame a node";
  EXPECT_EQ(row.verdict, "imbalance") << "reported as what it is";
}

TEST_F(FaultMatrix, CleanRunsReachNoVerdict) {
  int verdicts = 0;
  for (int run = 0; run < 10; ++run) {
    const size_t before = Incidents().size();
    auto job = Train(200, "");
    EXPECT_EQ(job->Wait(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    verdicts += static_cast<int>(Incidents().size() - before);
    if (Incidents().size() > before) {
      ADD_FAILURE() << "clean run " << run << " reached a verdict: " << Incidents().back().dump();
    }
  }
  Row row;
  row.fault = "10 clean runs x 200 steps";
  row.verdicts = verdicts;
  rows_->push_back(row);
  EXPECT_EQ(verdicts, 0);
}

}  // namespace
}  // namespace bulwark
