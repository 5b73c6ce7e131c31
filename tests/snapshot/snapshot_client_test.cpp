#include "snapshot/snapshot_client.h"
#include "snapshot/rank_slots.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

namespace bulwark::snapshot {
namespace {

class SnapshotClientTest : public ::testing::Test {
 protected:
  SnapshotClientTest() : prefix_("bwtest" + std::to_string(getpid())) {}
  ~SnapshotClientTest() override {
    for (int r = 0; r < 4; ++r) SnapshotClient::Remove(prefix_, "job-1", r);
  }
  std::unique_ptr<SnapshotClient> Open(int rank = 0, uint64_t budget = 0) {
    auto c = SnapshotClient::Open(prefix_, "job-1", rank, 0, budget);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(c.value()) : nullptr;
  }
  static std::vector<float> Values(size_t n, float base) {
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), base);
    return v;
  }
  std::string prefix_;
};

TEST_F(SnapshotClientTest, CommittedBuffersRestoreBitForBitInAnotherProcessLifetime) {
  auto weights = Values(1000, 1.5f), moments = Values(333, -7.0f);
  uint64_t rng = 0x1234567890abcdefull;
  {
    auto c = Open();
    EXPECT_FALSE(c->Latest().has_value());
    ASSERT_TRUE(c->Begin(41).ok());
    ASSERT_TRUE(c->Add("weights", weights.data(), weights.size() * sizeof(float)).ok());
    ASSERT_TRUE(c->Add("adam.m", moments.data(), moments.size() * sizeof(float)).ok());
    ASSERT_TRUE(c->Add("rng", &rng, sizeof(rng)).ok());
    ASSERT_TRUE(c->Add("empty", nullptr, 0).ok());
    ASSERT_TRUE(c->Commit().ok());
    EXPECT_EQ(c->Latest(), 41u);
  }
  auto c = Open();  // a restarted trainer: the memory outlived the first client
  ASSERT_EQ(c->Latest(), 41u);
  std::vector<float> w(1000), mo(333);
  uint64_t r = 0;
  ASSERT_TRUE(c->Restore(41, "weights", w.data(), w.size() * sizeof(float)).ok());
  ASSERT_TRUE(c->Restore(41, "adam.m", mo.data(), mo.size() * sizeof(float)).ok());
  ASSERT_TRUE(c->Restore(41, "rng", &r, sizeof(r)).ok());
  EXPECT_EQ(w, weights);
  EXPECT_EQ(mo, moments);
  EXPECT_EQ(r, rng);
  auto list = c->List(41);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0], (std::pair<std::string, uint64_t>{"weights", 4000}));
  EXPECT_EQ(c->Restore(41, "weights", w.data(), 12).message(), "buffer 'weights' of step 41 holds 4000 bytes, not 12");
  EXPECT_EQ(c->Restore(41, "nope", w.data(), 4).message(), "step 41 has no buffer 'nope'");
  EXPECT_NE(c->Restore(40, "weights", w.data(), 4000).message().find("no restorable snapshot of step 40"), std::string::npos);
}

TEST_F(SnapshotClientTest, ThePreviousVersionStaysWholeUntilTheNextCommitLands) {
  auto c = Open();
  for (uint64_t step = 1; step <= 3; ++step) {
    auto v = Values(256, static_cast<float>(step * 1000));
    ASSERT_TRUE(c->Begin(step).ok());
    ASSERT_TRUE(c->Add("w", v.data(), v.size() * sizeof(float)).ok());
    ASSERT_TRUE(c->Commit().ok());
  }
  EXPECT_EQ(c->Latest(), 3u);
  std::vector<float> out(256);
  ASSERT_TRUE(c->Restore(2, "w", out.data(), 1024).ok()) << "the other buffer still holds step 2";
  EXPECT_EQ(out[0], 2000.0f);
  EXPECT_FALSE(c->Restore(1, "w", out.data(), 1024).ok()) << "step 1 was overwritten by step 3";
}

TEST_F(SnapshotClientTest, ACrashInTheMiddleOfTheCopyLeavesThePreviousStepRestorable) {
  const auto before = Values(1 << 16, 3.0f);
  {
    auto c = Open(1);
    ASSERT_TRUE(c->Begin(10).ok());
    ASSERT_TRUE(c->Add("w", before.data(), before.size() * sizeof(float)).ok());
    ASSERT_TRUE(c->Commit().ok());
  }
  const pid_t child = fork();
  if (child == 0) {
    auto opened = SnapshotClient::Open(prefix_, "job-1", 1);
    auto& c = opened.value();
    std::vector<float> a(1 << 16, 9.0f), b(1 << 16, 9.0f);
    setenv("BULWARK_SNAPSHOT_CRASH_AFTER_BYTES", std::to_string(a.size() * sizeof(float)).c_str(), 1);
    c->Begin(11);
    c->Add("w", a.data(), a.size() * sizeof(float));
    c->Add("w2", b.data(), b.size() * sizeof(float));
    c->Commit();  // SIGKILLed after the first buffer
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child was meant to die mid-copy";
  auto c = Open(1);
  EXPECT_EQ(c->Latest(), 10u);
  std::vector<float> out(1 << 16);
  ASSERT_TRUE(c->Restore(10, "w", out.data(), out.size() * sizeof(float)).ok());
  EXPECT_EQ(out, before);
  EXPECT_FALSE(c->Restore(11, "w", out.data(), out.size() * sizeof(float)).ok()) << "a half-copied step is never served";
  // And the next commit after the crash works.
  ASSERT_TRUE(c->Begin(11).ok());
  ASSERT_TRUE(c->Add("w", out.data(), out.size() * sizeof(float)).ok());
  ASSERT_TRUE(c->Commit().ok());
  EXPECT_EQ(c->Latest(), 11u);
}

TEST_F(SnapshotClientTest, OverTheBudgetIsAClearErrorAndThePreviousVersionIsKept) {
  auto c = Open(2, 64 * 1024);
  auto small = Values(1000, 1.0f);
  ASSERT_TRUE(c->Begin(5).ok());
  ASSERT_TRUE(c->Add("w", small.data(), small.size() * sizeof(float)).ok());
  ASSERT_TRUE(c->Commit().ok());
  auto big = Values(100000, 2.0f);
  ASSERT_TRUE(c->Begin(6).ok());
  ASSERT_TRUE(c->Add("w", big.data(), big.size() * sizeof(float)).ok());
  EXPECT_EQ(c->Commit().message(), "snapshot of step 6 needs 400128 bytes, over the budget of 65536 (step 5 is kept)");
  EXPECT_EQ(c->Latest(), 5u);
}

TEST_F(SnapshotClientTest, MisuseIsRefusedWithTheReason) {
  auto c = Open(3);
  int x = 1;
  EXPECT_EQ(c->Add("w", &x, 4).message(), "buffer 'w' added outside a snapshot (call Begin first)");
  EXPECT_EQ(c->Commit().message(), "commit without a snapshot begun");
  ASSERT_TRUE(c->Begin(1).ok());
  EXPECT_EQ(c->Begin(2).message(), "snapshot of step 2 begun while step 1 is not committed");
  ASSERT_TRUE(c->Add("w", &x, 4).ok());
  EXPECT_EQ(c->Add("w", &x, 4).message(), "buffer 'w' added twice to step 1");
  EXPECT_EQ(c->Add("", &x, 4).message(), "a buffer needs a name");
  EXPECT_EQ(SnapshotClient::Open(prefix_, "bad/job", 0).status().message(),
            "job id 'bad/job' must be 1-64 letters, digits, '-', '_', '.'");
  EXPECT_FALSE(SnapshotClient::Open(prefix_, "job-1", -1).ok());
}

TEST_F(SnapshotClientTest, AForeignControlBlockIsRefused) {
  const std::string name = "/" + prefix_ + ".job-1.r0.ctl";
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  ASSERT_EQ(pwrite(fd, "garbage!", 8, 0), 8);
  close(fd);
  EXPECT_EQ(SnapshotClient::Open(prefix_, "job-1", 0).status().message(),
            name + " is not a snapshot control block (bad magic)");
}

TEST_F(SnapshotClientTest, TenThousandNamedBuffersRoundTrip) {
  auto c = Open();
  std::vector<std::vector<uint8_t>> buffers;
  for (int i = 0; i < 10000; ++i) buffers.emplace_back(static_cast<size_t>(1 + (i * 37) % 700), static_cast<uint8_t>(i));
  ASSERT_TRUE(c->Begin(1).ok());
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(c->Add("layer." + std::to_string(i), buffers[static_cast<size_t>(i)].data(), buffers[static_cast<size_t>(i)].size()).ok());
  }
  ASSERT_TRUE(c->Commit().ok());
  for (int i : {0, 1, 4999, 9999}) {
    std::vector<uint8_t> out(buffers[static_cast<size_t>(i)].size());
    ASSERT_TRUE(c->Restore(1, "layer." + std::to_string(i), out.data(), out.size()).ok());
    EXPECT_EQ(out, buffers[static_cast<size_t>(i)]);
  }
  EXPECT_EQ(c->List(1)->size(), 10000u);
}

// Under an agent the older slot is overwritten only once the agent released the committed
// step; until then the commit waits, and past the wait it is refused with both kept.
TEST_F(SnapshotClientTest, UnderAnAgentTheOlderVersionWaitsForItsRelease) {
  auto c = Open(1);
  auto slots = RankSlots::Open(prefix_, "job-1", 1);
  ASSERT_TRUE(slots.ok()) << slots.status().message();
  (*slots)->Manage();
  auto v = Values(100, 1.0f);
  for (uint64_t step : {1, 2}) {
    ASSERT_TRUE(c->Begin(step).ok());
    ASSERT_TRUE(c->Add("w", v.data(), v.size() * 4).ok());
    ASSERT_TRUE(c->Commit().ok());  // the second slot was empty: nothing to lose
  }
  setenv("BULWARK_SNAPSHOT_WAIT_MS", "50", 1);
  ASSERT_TRUE(c->Begin(3).ok());
  ASSERT_TRUE(c->Add("w", v.data(), v.size() * 4).ok());
  EXPECT_EQ(c->Commit().message(),
            "snapshot of step 3 skipped: step 2 is not protected cluster-wide after 50 ms, and overwriting step 1 could "
            "lose the job's recovery point (both are kept)");
  EXPECT_EQ((*slots)->Steps(), (std::vector<uint64_t>{1, 2}));
  (*slots)->Release(2);
  ASSERT_TRUE(c->Begin(3).ok());
  ASSERT_TRUE(c->Add("w", v.data(), v.size() * 4).ok());
  EXPECT_TRUE(c->Commit().ok());
  unsetenv("BULWARK_SNAPSHOT_WAIT_MS");
  EXPECT_EQ((*slots)->Steps(), (std::vector<uint64_t>{2, 3}));
  // Step 3 abandoned (another rank skipped it): step 4 overwrites it, step 2 stays.
  setenv("BULWARK_SNAPSHOT_WAIT_MS", "5000", 1);
  (*slots)->Abandon(3);
  ASSERT_TRUE(c->Begin(4).ok());
  ASSERT_TRUE(c->Add("w", v.data(), v.size() * 4).ok());
  EXPECT_TRUE(c->Commit().ok());
  unsetenv("BULWARK_SNAPSHOT_WAIT_MS");
  EXPECT_EQ((*slots)->Steps(), (std::vector<uint64_t>{2, 4}));
  // Rolling back to 2 forgets 4 and what was released past it.
  ASSERT_TRUE(c->RollBackTo(2).ok());
  EXPECT_EQ(c->Latest(), 2u);
  EXPECT_EQ((*slots)->Steps(), (std::vector<uint64_t>{2}));
}

// Once the agent recorded a slot's CRC, a restore checks it: rotted memory is refused.
TEST_F(SnapshotClientTest, ARestoreOfCorruptedMemoryFailsItsChecksum) {
  auto c = Open(2);
  auto v = Values(1000, 3.0f);
  ASSERT_TRUE(c->Begin(7).ok());
  ASSERT_TRUE(c->Add("w", v.data(), v.size() * 4).ok());
  ASSERT_TRUE(c->Commit().ok());
  auto slots = RankSlots::Open(prefix_, "job-1", 2);
  ASSERT_TRUE(slots.ok());
  ASSERT_TRUE((*slots)->Checksum(7).ok());
  const std::string name = "/" + prefix_ + ".job-1.r2.a";
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(pread(fd, &byte, 1, 2000), 1);
  byte ^= 1;
  ASSERT_EQ(pwrite(fd, &byte, 1, 2000), 1);
  close(fd);
  std::vector<float> out(v.size());
  EXPECT_EQ(c->Restore(7, "w", out.data(), out.size() * 4).message(),
            "snapshot of step 7 in " + name + " fails its checksum: the memory was corrupted after the commit");
}

}  // namespace
}  // namespace bulwark::snapshot
