#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/discovery.h"
#include "agent/rank_supervisor.h"
#include "agent/run_capturing.h"
#include "agent/self_check.h"
#include "common/clock.h"
#include "tests/support/temp_dir.h"

namespace bulwark::agent {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text << "\n";
}

TEST(AgentConfigTest, ErrorsNameFileLineAndKey) {
  auto bad = [](const std::string& yaml) {
    auto c = ParseAgentConfig(yaml, "agent.yaml");
    return c.ok() ? std::string("ok") : c.status().message();
  };
  EXPECT_EQ(bad("token_file: t\n"), "agent.yaml:1: controller: is required (the controller's URL)");
  EXPECT_EQ(bad("controller: http://c:1\ntoken_file: t\nheartbeat_interval_ms: fast\n"),
            "agent.yaml:3: heartbeat_interval_ms: must be an integer, got 'fast'");
  EXPECT_EQ(bad("controller: http://c:1\ntoken_file: t\nnode:\n  nics:\n    - {name: ib0, type: infiniband}\n"),
            "agent.yaml:5: node.nics[0].type: must be one of {ib, roce, ethernet}, got 'infiniband'");
  EXPECT_EQ(bad("controller: http://c:1\ntoken_file: t\nrol: spare\n"), "agent.yaml:3: rol: unknown key");
  EXPECT_EQ(bad("controller: c:1\ntoken_file: t\n"),
            "agent.yaml:1: controller: must be an http:// or https:// URL, got 'c:1'");
  EXPECT_EQ(bad("controller: http://c:1\ntoken_file: t\n"), "ok");
}

TEST(DiscoveryTest, ReadsNicsFromSysfsAndConfigOverrides) {
  const fs::path sys = bulwark::testing::UniqueTempDir() + "/sys";
  const fs::path proc = sys.parent_path() / "proc";
  Write(sys / "class/net/lo/type", "772");
  Write(sys / "class/net/eth0/type", "1");
  Write(sys / "class/net/eth0/speed", "25000");
  fs::create_directories(sys / "class/net/eth0/device");
  Write(sys / "class/net/ens1/type", "1");  // RoCE: its RDMA device names it below
  Write(sys / "class/net/ens1/speed", "-1");
  fs::create_directories(sys / "class/net/ens1/device");
  fs::create_directories(sys / "class/net/docker0");  // virtual: no device link
  Write(sys / "class/infiniband/mlx5_0/ports/1/link_layer", "Ethernet");
  Write(sys / "class/infiniband/mlx5_0/ports/1/rate", "200 Gb/sec (4X HDR)");
  fs::create_directories(sys / "class/infiniband/mlx5_0/device/net/ens1");
  Write(sys / "class/infiniband/mlx5_1/ports/1/link_layer", "InfiniBand");
  Write(sys / "class/infiniband/mlx5_1/ports/1/rate", "400 Gb/sec (4X NDR)");
  Write(proc / "cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\nprocessor\t: 1\n");
  Write(proc / "meminfo", "MemTotal:       2048 kB\n");
  fs::create_directories(proc / "driver/nvidia/gpus/0000:01:00.0");
  fs::create_directories(proc / "driver/nvidia/gpus/0000:02:00.0");

  NodeInfo info = DiscoverNode(sys.string(), proc.string());
  ASSERT_EQ(info.nics.size(), 3u);
  EXPECT_EQ(info.nics[0].name, "ens1");
  EXPECT_EQ(info.nics[0].type, "roce");
  EXPECT_EQ(info.nics[0].speed_gbps, 200);
  EXPECT_EQ(info.nics[1].name, "eth0");
  EXPECT_EQ(info.nics[1].type, "ethernet");
  EXPECT_EQ(info.nics[1].speed_gbps, 25);
  EXPECT_EQ(info.nics[2].name, "mlx5_1:1");
  EXPECT_EQ(info.nics[2].type, "ib");
  EXPECT_EQ(info.nics[2].speed_gbps, 400);
  EXPECT_EQ(info.cpus, 2);
  EXPECT_EQ(info.cpu_model, "Test CPU");
  EXPECT_EQ(info.memory_bytes, 2048 * 1024);
  EXPECT_EQ(info.gpus, 2);

  NodeOverrides o;
  o.name = "logical-3";
  o.rack = "rack-2";
  o.gpus = 8;
  o.nics = std::vector<Nic>{{"ib7", "ib", 400, 7, ""}};
  NodeInfo merged = ApplyOverrides(info, o);
  EXPECT_EQ(merged.name, "logical-3");
  EXPECT_EQ(merged.rack, "rack-2");
  EXPECT_EQ(merged.gpus, 8);
  ASSERT_EQ(merged.nics.size(), 1u);
  EXPECT_EQ(merged.nics[0].rail, 7);
  EXPECT_EQ(merged.cpus, 2) << "what the config does not name stays discovered";
}

TEST(SelfCheckTest, PassesHereAndReportsForcedFailures) {
  SelfCheckOptions o;
  o.work_dir = bulwark::testing::UniqueTempDir();
  auto all = RunSelfChecks(o);
  EXPECT_TRUE(all["passed"].get<bool>()) << all.dump();
  EXPECT_EQ(all["checks"].size(), SelfCheckNames().size());
  o.forced_fail = {"work_dir_writable"};
  auto failed = RunSelfChecks(o);
  EXPECT_FALSE(failed["passed"].get<bool>());
  EXPECT_NE(failed["summary"].get<std::string>().find("work_dir_writable"), std::string::npos);
  o.only = {"no_such_check"};
  EXPECT_FALSE(RunSelfChecks(o)["passed"].get<bool>());
}

// Measured checks record the node's baseline the first time and compare against it after:
// a node whose memory got far slower than at admission fails, with both numbers.
TEST(SelfCheckTest, MeasuredChecksCompareAgainstTheAdmissionBaseline) {
  SelfCheckOptions o;
  o.work_dir = bulwark::testing::UniqueTempDir();
  o.baseline_path = o.work_dir + "/baseline.json";
  o.only = {"memory_bandwidth", "cpu_arithmetic", "loopback_tcp"};
  auto first = RunSelfChecks(o);
  ASSERT_TRUE(first["passed"].get<bool>()) << first.dump();
  for (const auto& c : first["checks"]) {
    EXPECT_GT(c["value"].get<double>(), 0) << c.dump();
    EXPECT_NE(c["detail"].get<std::string>().find("(baseline recorded)"), std::string::npos) << c.dump();
  }
  std::ifstream in(o.baseline_path);
  nlohmann::json baseline = nlohmann::json::parse(in);
  ASSERT_TRUE(baseline.contains("memory_bandwidth"));
  // Pretend admission measured a thousand times more: today's number is below half of it.
  baseline["memory_bandwidth"] = baseline["memory_bandwidth"].get<double>() * 1000;
  std::ofstream(o.baseline_path) << baseline.dump();
  auto later = RunSelfChecks(o);
  EXPECT_FALSE(later["passed"].get<bool>());
  EXPECT_NE(later["summary"].get<std::string>().find("memory_bandwidth"), std::string::npos) << later.dump();
  for (const auto& c : later["checks"]) {
    EXPECT_EQ(c["ok"].get<bool>(), c["name"] != "memory_bandwidth") << c.dump();  // the others still pass
    EXPECT_NE(c["detail"].get<std::string>().find("fails below 50% of it"), std::string::npos) << c.dump();
  }

  o.only = {"peer_latency"};
  o.peers = {"127.0.0.1:1"};
  auto peers = RunSelfChecks(o);
  EXPECT_FALSE(peers["passed"].get<bool>());
  EXPECT_NE(peers["summary"].get<std::string>().find("127.0.0.1:1 unreachable"), std::string::npos) << peers.dump();
}

// A real two-rank MPI job through the launcher: numbers, a baseline, and a failure when one
// rank contributes a wrong value to the allreduce.
TEST(SelfCheckTest, TheMpiCheckRunsARealJobAndCatchesWrongSums) {
  SelfCheckOptions o;
  o.work_dir = bulwark::testing::UniqueTempDir();
  o.baseline_path = o.work_dir + "/baseline.json";
  // Not asked for: skipped, saying how to ask.
  o.only = {"mpi_pingpong_allreduce", "clock_monotonic"};
  auto unasked = RunSelfChecks(o);
  EXPECT_TRUE(unasked["passed"].get<bool>()) << unasked.dump();
  EXPECT_EQ(unasked["summary"], "1 checks passed, 1 skipped");
  o.only.clear();
  for (const auto& c : RunSelfChecks(o)["checks"]) {
    if (c["name"] == "mpi_pingpong_allreduce") {
      EXPECT_NE(c["detail"].get<std::string>().find("runs when asked"), std::string::npos) << c.dump();
    }
  }
  // Asked for, with nothing to run it with: skipped too.
  o.run_mpi = true;
  o.only = {"mpi_pingpong_allreduce"};
  auto skipped = RunSelfChecks(o);
  EXPECT_TRUE(skipped["passed"].get<bool>()) << skipped.dump();
  EXPECT_TRUE(skipped["checks"][0].value("skipped", false)) << skipped.dump();
  EXPECT_NE(skipped["checks"][0]["detail"].get<std::string>().find("no MPI launcher"), std::string::npos) << skipped.dump();

  o.mpi_launcher = BULWARK_MPIRUN;
  o.mpi_program = BULWARK_MPI_CHECK;
  auto good = RunSelfChecks(o);
  ASSERT_TRUE(good["passed"].get<bool>()) << good.dump();
  const auto& check = good["checks"][0];
  EXPECT_GT(check["value"].get<double>(), 0) << check.dump();
  EXPECT_EQ(check["unit"], "MB/s");
  EXPECT_NE(check["detail"].get<std::string>().find("2 ranks"), std::string::npos) << check.dump();
  EXPECT_NE(check["detail"].get<std::string>().find("sums correct"), std::string::npos) << check.dump();
  EXPECT_NE(check["detail"].get<std::string>().find("(baseline recorded)"), std::string::npos) << check.dump();

  o.mpi_program_args = {"--corrupt-rank", "1"};
  auto corrupt = RunSelfChecks(o);
  EXPECT_FALSE(corrupt["passed"].get<bool>());
  EXPECT_NE(corrupt["summary"].get<std::string>().find("WRONG sums"), std::string::npos) << corrupt.dump();

  // Chosen hosts (all this machine here): one rank each, and no baseline for other links.
  o.mpi_program_args.clear();
  o.mpi_hosts = {"localhost", "localhost", "localhost"};
  auto three = RunSelfChecks(o);
  ASSERT_TRUE(three["passed"].get<bool>()) << three.dump();
  EXPECT_NE(three["checks"][0]["detail"].get<std::string>().find("3 ranks"), std::string::npos) << three.dump();
  EXPECT_FALSE(three["checks"][0].contains("baseline")) << three.dump();

  o.mpi_hosts.clear();
  o.mpi_launcher = "/nonexistent/mpirun";
  auto missing = RunSelfChecks(o);
  EXPECT_FALSE(missing["passed"].get<bool>());
  EXPECT_NE(missing["summary"].get<std::string>().find("/nonexistent/mpirun is not an executable file"),
            std::string::npos)
      << missing.dump();
}

#ifdef BULWARK_GPU_CHECK
// bulwark-gpu-check against a CUDA driver and an NCCL that run on the CPU with the real
// headers' ABI: the checks pass on good "GPUs" and fail, saying why, on each fault.
class GpuSelfCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    o_.work_dir = bulwark::testing::UniqueTempDir();
    o_.baseline_path = o_.work_dir + "/baseline.json";
    o_.gpu_program = BULWARK_GPU_CHECK;
    o_.cuda_library = BULWARK_FAKE_CUDA;
    o_.nccl_library = BULWARK_FAKE_NCCL;
    o_.expected_gpus = 2;
    o_.only = {"gpu_memory", "nccl_allreduce"};
  }
  void TearDown() override {
    for (const char* v : {"FAKE_CUDA_DEVICES", "FAKE_CUDA_INIT_ERROR", "FAKE_CUDA_BAD_DEVICE", "FAKE_CUDA_HANG", "FAKE_CUDA_FULL",
                          "FAKE_NCCL_WRONG_SUM"}) {
      ::unsetenv(v);
    }
  }
  nlohmann::json Check(const std::string& name) {
    o_.only = {name};
    return RunSelfChecks(o_)["checks"][0];
  }
  SelfCheckOptions o_;
};

TEST_F(GpuSelfCheckTest, HealthyGpusPassWithTheirNumbers) {
  auto all = RunSelfChecks(o_);
  ASSERT_TRUE(all["passed"].get<bool>()) << all.dump();
  const auto& gpu = all["checks"][0];
  EXPECT_EQ(gpu["name"], "gpu_memory");
  EXPECT_NE(gpu["detail"].get<std::string>().find("2 GPUs, memory round trips right"), std::string::npos) << gpu.dump();
  EXPECT_EQ(gpu["unit"], "GB/s");
  EXPECT_NE(gpu["detail"].get<std::string>().find("(baseline recorded)"), std::string::npos) << gpu.dump();
  const auto& nccl = all["checks"][1];
  EXPECT_EQ(nccl["unit"], "GB/s");
  EXPECT_NE(nccl["detail"].get<std::string>().find("NCCL 2.28.3 over 2 GPUs"), std::string::npos) << nccl.dump();
  EXPECT_NE(nccl["detail"].get<std::string>().find("sums correct"), std::string::npos) << nccl.dump();
}

TEST_F(GpuSelfCheckTest, AGpuOffTheBusIsMissingAndFails) {
  ::setenv("FAKE_CUDA_DEVICES", "1", 1);
  o_.expected_gpus = 2;
  const auto gpu = Check("gpu_memory");
  EXPECT_FALSE(gpu["ok"].get<bool>());
  EXPECT_NE(gpu["detail"].get<std::string>().find("sees 1 of the 2 GPUs"), std::string::npos) << gpu.dump();
}

TEST_F(GpuSelfCheckTest, MemoryThatComesBackWrongFailsNamingTheGpu) {
  ::setenv("FAKE_CUDA_BAD_DEVICE", "1", 1);
  const auto gpu = Check("gpu_memory");
  EXPECT_FALSE(gpu["ok"].get<bool>());
  EXPECT_NE(gpu["detail"].get<std::string>().find("GPU 1 (Fake GPU): memory came back wrong"), std::string::npos)
      << gpu.dump();
}

TEST_F(GpuSelfCheckTest, WrongSumsFromNcclFail) {
  ::setenv("FAKE_NCCL_WRONG_SUM", "1", 1);
  const auto nccl = Check("nccl_allreduce");
  EXPECT_FALSE(nccl["ok"].get<bool>());
  EXPECT_NE(nccl["detail"].get<std::string>().find("WRONG sums"), std::string::npos) << nccl.dump();
}

TEST_F(GpuSelfCheckTest, ADriverThatFailsOrHangsFails) {
  ::setenv("FAKE_CUDA_INIT_ERROR", "999", 1);
  const auto init = Check("gpu_memory");
  EXPECT_FALSE(init["ok"].get<bool>());
  EXPECT_NE(init["detail"].get<std::string>().find("does not initialise: CUDA error 999"), std::string::npos)
      << init.dump();
  ::unsetenv("FAKE_CUDA_INIT_ERROR");
  ::setenv("FAKE_CUDA_HANG", "1", 1);
  o_.gpu_timeout_ms = 1000;
  const auto hang = Check("gpu_memory");
  EXPECT_FALSE(hang["ok"].get<bool>());
  EXPECT_NE(hang["detail"].get<std::string>().find("did not finish in 1000 ms"), std::string::npos) << hang.dump();
}

// A node checked while its job still holds the GPUs' memory (a straggler's) is not failed
// for it: the GPUs are there, just not checkable now.
TEST_F(GpuSelfCheckTest, GpusWhoseMemoryAJobHoldsAreBusyNotFailed) {
  ::setenv("FAKE_CUDA_FULL", "1", 1);
  auto r = RunSelfChecks(o_);
  EXPECT_TRUE(r["passed"].get<bool>()) << r.dump();
  EXPECT_NE(r["checks"][0]["detail"].get<std::string>().find("not checked: GPU 0, 1"), std::string::npos) << r.dump();
  EXPECT_TRUE(r["checks"][1].value("skipped", false)) << r.dump();
  ::setenv("FAKE_CUDA_DEVICES", "1", 1);  // busy or not, a missing GPU is still missing
  EXPECT_FALSE(Check("gpu_memory")["ok"].get<bool>());
}

// No driver: not a fault where no GPU is expected, a failure where GPUs should be.
TEST_F(GpuSelfCheckTest, NoDriverIsSkippedOnlyWhereNoGpusAreExpected) {
  o_.cuda_library = "/nonexistent/libcuda.so.1";
  o_.expected_gpus = 0;
  auto none = RunSelfChecks(o_);
  EXPECT_TRUE(none["passed"].get<bool>()) << none.dump();
  EXPECT_TRUE(none["checks"][0].value("skipped", false)) << none.dump();
  o_.expected_gpus = 8;
  const auto gpu = Check("gpu_memory");
  EXPECT_FALSE(gpu["ok"].get<bool>());
  EXPECT_NE(gpu["detail"].get<std::string>().find("should have 8 GPUs but the CUDA driver cannot be loaded"),
            std::string::npos)
      << gpu.dump();
}
#endif

TEST(SelfCheckTest, WithoutTheGpuProgramTheGpuChecksAreSkipped) {
  SelfCheckOptions o;
  o.work_dir = bulwark::testing::UniqueTempDir();
  o.only = {"gpu_memory", "nccl_allreduce"};
  auto r = RunSelfChecks(o);
  EXPECT_TRUE(r["passed"].get<bool>()) << r.dump();
  for (const auto& c : r["checks"]) EXPECT_TRUE(c.value("skipped", false)) << c.dump();
}

TEST(RunCapturingTest, CapturesOutputAndExitCode) {
  auto run = RunCapturing({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 10000);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_NE(run->output.find("out"), std::string::npos);
  EXPECT_NE(run->output.find("err"), std::string::npos);
  EXPECT_FALSE(RunCapturing({"/no/such/program"}, 1000).ok());
}

// Past the deadline the whole group goes, including what the program started.
TEST(RunCapturingTest, KillsTheWholeGroupAtTheDeadline) {
  auto run = RunCapturing({"/bin/sh", "-c", "sleep 60 & echo $!; wait"}, 500);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_TRUE(run->timed_out);
  const pid_t sleeper = std::atoi(run->output.c_str());
  ASSERT_GT(sleeper, 0) << run->output;
  // Orphaned by the kill, the sleeper is reaped by init: gone, or a zombie for a moment.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(sleeper) + "/stat");
    std::string pid, comm, state;
    gone = !(stat >> pid >> comm >> state) || state == "Z";
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the program's child " << sleeper << " outlived the deadline";
}

TEST(RankSupervisorTest, StartsReapsAndStopsRealProcesses) {
  const std::string dir = bulwark::testing::UniqueTempDir();
  RankSupervisor ranks("n1", dir);
  auto started = ranks.Start({"/bin/sh", "-c", "echo rank=$BULWARK_RANK node=$BULWARK_NODE extra=$EXTRA; exit 3"}, 2, 4,
                             {{"EXTRA", "x"}});
  ASSERT_TRUE(started.ok()) << started.status().message();
  std::vector<RankExit> exits;
  for (int i = 0; i < 200 && exits.size() < 2; ++i) {
    for (auto& e : ranks.Reap()) exits.push_back(e);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(exits.size(), 2u);
  EXPECT_EQ(exits[0].exit_code, 3);
  std::ifstream log(dir + "/rank-5.log");
  std::string line;
  std::getline(log, line);
  EXPECT_EQ(line, "rank=5 node=n1 extra=x");

  ASSERT_TRUE(ranks.Start({"sleep", "30"}, 3, 0, {}).ok());
  EXPECT_EQ(ranks.running(), 3u);
  EXPECT_EQ(ranks.Stop(2000), 3);
  EXPECT_EQ(ranks.running(), 0u);
  auto stopped = ranks.Reap();
  ASSERT_EQ(stopped.size(), 3u);
  EXPECT_EQ(stopped[0].signal, SIGTERM);
}

TEST(BoundedBufferTest, DropsOldestAndCounts) {
  BoundedBuffer b(3);
  for (int i = 0; i < 5; ++i) b.Push(i);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.dropped(), 2u);
  EXPECT_EQ(b.Peek(2), nlohmann::json({2, 3}));
  b.Pop(2);
  EXPECT_EQ(b.Peek(5), nlohmann::json({4}));
}

}  // namespace
}  // namespace bulwark::agent
