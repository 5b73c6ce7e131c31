// bulwark-train under mpirun with libbulwark-pmpi.so, seen through the agent's hook intake
// (the same service bulwark-agent runs): the statistics match what the trainer did, a rank
// stuck before a collective makes its peer's call a local hang, and killed ranks are noticed.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/hook_intake.h"
#include "tests/support/process_job.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;

// The agent's hook service on its own thread, collecting the events it raises.
class Hooks {
 public:
  explicit Hooks(int64_t local_hang_ms) : socket_("@bw-hooked-trainer-" + std::to_string(getpid())) {
    auto hooks = HookIntake::Start({socket_, local_hang_ms}, [this](json e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(e));
    }, [](const std::string&) {});
    EXPECT_TRUE(hooks.ok()) << hooks.status().message();
    hooks_ = std::move(hooks.value());
    thread_ = std::thread([this] { hooks_->Run(&stop_); });
  }
  ~Hooks() {
    stop_ = true;
    thread_.join();
  }
  std::vector<std::string> Job(int ranks, std::vector<std::string> args) const {
    std::vector<std::string> argv = {BULWARK_MPIRUN, "-np", std::to_string(ranks), "-x", "LD_PRELOAD=" BULWARK_PMPI_LIB,
                                     "-x", "BULWARK_AGENT_SOCKET=" + socket_, "-x", "BULWARK_FAULTS", BULWARK_TRAIN_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // Polls `done` over the hook status for up to 20 s.
  bool WaitFor(const std::function<bool(const json& status, const std::vector<json>& events)>& done) {
    for (int i = 0; i < 2000; ++i) {
      json status = hooks_->StatusJson();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (done(status, events_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  HookIntake& intake() { return *hooks_; }

 private:
  std::string socket_;
  std::unique_ptr<HookIntake> hooks_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> events_;
};

// Collectives per training step: gradients reduce-scattered (an all-to-all), the gradient
// norm and the loss all-gathered, the updated parameters all-gathered (trainer/trainer.cpp);
// before the first step, one all-gather where the ranks agree the setup worked (main.cpp).
constexpr int kCallsPerStep = 4;
constexpr int kStartupCalls = 1;

TEST(HookedTrainerTest, AgentStatisticsMatchWhatTheTrainerDid) {
  Hooks hooks(60000);
  const int steps = 6;
  bulwark::testing::ProcessJob job(
      hooks.Job(2, {"--config", std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml", "--steps",
                    std::to_string(steps)}));
  ASSERT_EQ(job.Wait(std::chrono::seconds(120)), 0) << job.err();
  ASSERT_TRUE(hooks.WaitFor([](const json& s, const std::vector<json>&) {
    return s["rings_open"] == 0 && s["ranks"].size() == 2;
  })) << hooks.intake().StatusJson().dump();
  auto summary = hooks.intake().Summary(0);
  ASSERT_TRUE(summary.has_value());
  ASSERT_EQ(summary->ranks.size(), 2u);
  std::vector<std::string> comms;
  std::vector<int64_t> bytes;
  for (const auto& rank : summary->ranks) {
    ASSERT_EQ(rank.comms.size(), 1u) << "the trainer uses MPI_COMM_WORLD only";
    const CommStats& c = rank.comms[0];
    EXPECT_EQ(c.calls, kStartupCalls + steps * kCallsPerStep) << "rank " << rank.rank;
    EXPECT_EQ(c.last_seq_done, kStartupCalls + steps * kCallsPerStep - 1);
    EXPECT_EQ(c.last_seq, c.last_seq_done);
    EXPECT_EQ(c.in_call_us, 0);
    EXPECT_GT(c.p50_us, 0);
    EXPECT_GE(c.p99_us, c.p50_us);
    EXPECT_GE(c.max_us, c.p99_us);
    comms.push_back(c.comm);
    bytes.push_back(c.bytes);
  }
  EXPECT_EQ(comms[0], comms[1]) << "both ranks name the world alike";
  EXPECT_EQ(bytes[0], bytes[1]);
  // Per step: the whole parameter vector all-to-all'd, half of it all-gathered (2 ranks), and
  // two doubles; the trainer reports 110,336 parameters for tiny.yaml (padding may add a few).
  const int64_t per_step = (bytes[0] - 8 * kStartupCalls) / steps;
  EXPECT_GE(per_step, 110336 * 4 + 110336 / 2 * 4 + 16);
  EXPECT_LT(per_step, 110336 * 4 * 3 / 2 + 16 + 4096);
  EXPECT_FALSE(hooks.intake().Summary(0).has_value()) << "finished ranks are summarized once";
}

TEST(HookedTrainerTest, ARankStuckBeforeACollectiveIsALocalHangOnItsPeerAndKilledRanksAreNoticed) {
  Hooks hooks(400);
  bulwark::testing::ProcessJob job(
      hooks.Job(2, {"--config", std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml", "--steps", "50"}),
      {{"BULWARK_FAULTS", "hang:step=4:rank=1"}});
  json hang;
  ASSERT_TRUE(hooks.WaitFor([&](const json&, const std::vector<json>& events) {
    for (const auto& e : events)
      if (e["kind"] == "rank.local_hang") hang = e;
    return !hang.is_null();
  })) << job.err();
  // Rank 1 stops before step 4's first collective; rank 0 waits inside it.
  EXPECT_EQ(hang["detail"]["rank"], 0);
  EXPECT_EQ(hang["detail"]["op"], "alltoall");
  EXPECT_EQ(hang["detail"]["seq"], kStartupCalls + 3 * kCallsPerStep);
  EXPECT_GE(hang["detail"]["inside_ms"].get<int64_t>(), 400);
  const json status = hooks.intake().StatusJson();
  for (const auto& r : status["ranks"]) {
    if (r["rank"] == 0) {
      EXPECT_GT(r["comms"][0]["in_call_us"].get<double>(), 400000);
    }
  }

  job.Kill();
  std::vector<json> lost;
  ASSERT_TRUE(hooks.WaitFor([&](const json&, const std::vector<json>& events) {
    lost.clear();
    for (const auto& e : events)
      if (e["kind"] == "rank.ring_lost") lost.push_back(e);
    return lost.size() == 2;
  }));
  for (const auto& e : lost) EXPECT_EQ(e["detail"]["why"], "exited without finishing");
}

}  // namespace
}  // namespace bulwark::agent
