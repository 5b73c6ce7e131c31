// The agent's fault injector against real processes (forked `sleep`s standing in for ranks)
// and a real directory standing in for /dev/shm: signals are sent, states read back from
// /proc, bytes flipped on disk.
#include "agent/fault_injector.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "tests/support/temp_dir.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

pid_t SpawnSleep() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "60", nullptr);
    ::_exit(127);
  }
  return pid;
}

// The process state letter from /proc/PID/stat: R, S, T (stopped), Z…; '?' when gone.
char State(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return '?';
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

// Waits up to 5 s for `want(state)`.
template <typename Pred>
bool WaitState(pid_t pid, Pred want) {
  for (int i = 0; i < 500; ++i) {
    if (want(State(pid))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class FaultInjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shm_ = bulwark::testing::UniqueTempDir();
    ranks_ = {{SpawnSleep(), "job-1", 0, 1}, {SpawnSleep(), "job-1", 1, 1}};
    injector_ = std::make_unique<FaultInjector>(InjectorEnvironment{
        [this] { return ranks_; }, shm_, "bulwark-x-n1",
        [this](json event) {
          std::lock_guard<std::mutex> lock(mu_);
          events_.push_back(std::move(event));
        },
        [this] { died_ = true; },
        "", ""});  // no link of its own: link faults are refused
  }
  void TearDown() override {
    injector_.reset();  // heals what lasts (SIGCONT), as an agent that stops does
    for (const auto& r : ranks_) ::kill(r.pid, SIGKILL);
    for (const auto& r : ranks_) ::waitpid(r.pid, nullptr, 0);
  }
  std::vector<json> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  std::string shm_;
  std::vector<RankProcess> ranks_;
  std::unique_ptr<FaultInjector> injector_;
  std::mutex mu_;
  std::vector<json> events_;
  std::atomic<bool> died_{false};
};

TEST_F(FaultInjectorTest, KillRankKillsTheNamedRankOnly) {
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "kill-rank"}, {"rank", 1}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value()["killed"], json::array({ranks_[1].pid}));
  int status = 0;
  ASSERT_EQ(::waitpid(ranks_[1].pid, &status, 0), ranks_[1].pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(WaitState(ranks_[0].pid, [](char s) { return s == 'S'; })) << "the other rank runs on";
  ranks_.pop_back();

  auto missing = injector_->Apply({{"id", "inj-2"}, {"kind", "kill-rank"}, {"rank", 7}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "no rank 7 of any job runs on this node");
  auto other_job = injector_->Apply({{"id", "inj-3"}, {"kind", "kill-rank"}, {"job", "job-9"}});
  ASSERT_FALSE(other_job.ok());
  EXPECT_EQ(other_job.status().message(), "no rank of job job-9 runs on this node");
}

TEST_F(FaultInjectorTest, AHangHoldsUntilHealedAndTheHealIsReported) {
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "hang-rank"}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value()["rank"], 0) << "the node's lowest rank by default";
  EXPECT_TRUE(WaitState(ranks_[0].pid, [](char s) { return s == 'T'; }));
  EXPECT_EQ(injector_->Active().size(), 1u);

  // A second lasting fault on the same process would undo the first one's signals.
  auto clash = injector_->Apply({{"id", "inj-2"}, {"kind", "slow-rank"}, {"rank", 0}});
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find("already under inj-1 (hang-rank)"), std::string::npos) << clash.status().message();

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(State(ranks_[0].pid), 'T') << "no duration: it holds";
  auto healed = injector_->Heal("inj-1");
  ASSERT_TRUE(healed.ok()) << healed.status().message();
  EXPECT_TRUE(WaitState(ranks_[0].pid, [](char s) { return s != 'T'; }));
  const auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["kind"], "injection_healed");
  EXPECT_EQ(events[0]["detail"]["id"], "inj-1");
  EXPECT_EQ(events[0]["detail"]["by"], "heal");
  EXPECT_TRUE(injector_->Active().empty());
  EXPECT_FALSE(injector_->Heal("inj-1").ok()) << "forgotten once healed";
}

TEST_F(FaultInjectorTest, ALastingFaultHealsItselfWhenItsDurationRunsOut) {
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "hang-rank"}, {"rank", 1}, {"duration_ms", 200}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  for (int i = 0; i < 500 && Events().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["detail"]["by"], "duration");
  EXPECT_TRUE(WaitState(ranks_[1].pid, [](char s) { return s != 'T'; }));
  auto late = injector_->Heal("inj-1");
  ASSERT_TRUE(late.ok()) << "a heal that arrives after the end is no error";
  EXPECT_EQ(late.value()["already"], true);
}

TEST_F(FaultInjectorTest, ASlowRankIsStoppedPartOfEveryPeriod) {
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "slow-rank"}, {"percent", 300}, {"duration_ms", 2000}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value()["percent"], 300);
  // Stopped 75 ms of every 100: sampled, it is mostly stopped and sometimes not.
  int stopped = 0, samples = 0;
  for (; samples < 200; ++samples) {
    stopped += State(ranks_[0].pid) == 'T';
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_GT(stopped, samples / 2);
  EXPECT_LT(stopped, samples);
  ASSERT_TRUE(injector_->Heal("inj-1").ok());
  EXPECT_TRUE(WaitState(ranks_[0].pid, [](char s) { return s != 'T'; }));
}

TEST_F(FaultInjectorTest, CorruptFragmentFlipsAByteOfTheNewestParityHeld) {
  const std::string older = shm_ + "/bulwark-x-n1.job-1.g0.p2.s7", newer = shm_ + "/bulwark-x-n1.job-1.g0.p2.s8",
                    slot = shm_ + "/bulwark-x-n1.job-1.r0.a", other = shm_ + "/bulwark-y-n2.job-1.g0.p2.s9";
  for (const auto& f : {older, newer, slot, other}) std::ofstream(f, std::ios::binary) << std::string(1000, 'A');
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "corrupt-fragment"}, {"job", "job-1"}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value()["file"], newer);
  EXPECT_EQ(done.value()["step"], 8);
  const auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string want(1000, 'A');
  want[500] = static_cast<char>('A' ^ 0x5a);
  EXPECT_EQ(bytes(newer), want);
  for (const auto& f : {older, slot, other}) EXPECT_EQ(bytes(f), std::string(1000, 'A')) << f;

  auto none = injector_->Apply({{"id", "inj-2"}, {"kind", "corrupt-fragment"}, {"job", "job-2"}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "this node holds no parity fragment of job job-2");
}

TEST_F(FaultInjectorTest, KillNodeTakesTheRanksTheMemoryAndTheAgent) {
  const std::string mine = shm_ + "/bulwark-x-n1.job-1.r0.a", peer = shm_ + "/bulwark-y-n2.job-1.r1.a";
  std::ofstream(mine) << "state";
  std::ofstream(peer) << "state";
  auto done = injector_->Apply({{"id", "inj-1"}, {"kind", "kill-node"}});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value()["killed"].size(), 2u);
  EXPECT_EQ(done.value()["memory_files_removed"], 1);
  EXPECT_FALSE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(peer)) << "another node's memory is not this node's to lose";
  for (const auto& r : ranks_) {
    int status = 0;
    ASSERT_EQ(::waitpid(r.pid, &status, 0), r.pid);
    EXPECT_TRUE(WIFSIGNALED(status));
  }
  ranks_.clear();
  for (int i = 0; i < 200 && !died_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(died_) << "the agent ends itself once its answer is out";
}

TEST_F(FaultInjectorTest, UnknownKindsAndMissingIdsAreRefused) {
  auto unknown = injector_->Apply({{"id", "inj-1"}, {"kind", "melt-gpu"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "this agent cannot inject 'melt-gpu'");
  EXPECT_FALSE(injector_->Apply({{"kind", "kill-rank"}}).ok());
  EXPECT_TRUE(WaitState(ranks_[0].pid, [](char s) { return s == 'S'; })) << "nothing was done";
}

TEST_F(FaultInjectorTest, ALinkFaultOnANodeWithoutALinkOfItsOwnIsRefused) {
  // This fixture's agent names no interface, as on a loopback cluster where every node
  // shares one (tests/e2e/netns_e2e_test.cpp has nodes with links of their own).
  auto slow = injector_->Apply({{"id", "inj-1"}, {"kind", "slow-link"}, {"delay_ms", 10}});
  ASSERT_FALSE(slow.ok());
  EXPECT_NE(slow.status().message().find("cluster up --netns"), std::string::npos) << slow.status().message();
  EXPECT_TRUE(injector_->Active().empty()) << "nothing is left in force";
}

}  // namespace
}  // namespace bulwark::agent
