// kill -9 at arbitrary moments: every acknowledged commit survives, whole, and no commit
// is ever half applied.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "controller/state_store.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

// Starts the writer, lets it run for `run_ms`, SIGKILLs it, and returns the last ack read.
long RunAndKill(const std::string& dir, int run_ms) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::close(pipe_fds[0]);
    ::execl(BULWARK_STATE_WRITER, BULWARK_STATE_WRITER, dir.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer stopped on its own";
  // Everything it acknowledged before dying is in the pipe.
  FILE* in = ::fdopen(pipe_fds[0], "r");
  long last = -1, n = 0;
  while (std::fscanf(in, "ack %ld\n", &n) == 1) last = n;
  std::fclose(in);
  return last;
}

TEST(StateStoreCrashTest, KillNineLosesNoAcknowledgedCommitAndHalfAppliesNone) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  long acked_total = -1;
  uint64_t events_seen = 0;
  for (int round = 0; round < 6; ++round) {
    const long acked = RunAndKill(dir, 150 + 70 * round);
    auto store = StateStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().message();
    // Each run starts numbering at 0 again, so check this run's acks in its own key space:
    // the writer overwrote n<i>/j<i> with the same values, which must all be present.
    for (long i = 0; i <= acked; ++i) {
      ASSERT_EQ(store.value()->Get(RecordKind::kNodes, "n" + std::to_string(i)), "v" + std::to_string(i)) << i;
      ASSERT_EQ(store.value()->Get(RecordKind::kJobs, "j" + std::to_string(i)), "v" + std::to_string(i)) << i;
    }
    // Atomicity: a node record without its job record (or the reverse) is a torn batch.
    auto nodes = store.value()->List(RecordKind::kNodes), jobs = store.value()->List(RecordKind::kJobs);
    ASSERT_EQ(nodes.size(), jobs.size());
    for (size_t i = 0; i < nodes.size(); ++i) ASSERT_EQ(nodes[i].first.substr(1), jobs[i].first.substr(1));
    // Events: one per commit, ids dense and increasing across every restart.
    const uint64_t last = store.value()->last_event_id();
    EXPECT_GE(last, events_seen + static_cast<uint64_t>(acked + 1));
    auto events = store.value()->EventsAfter(0, SIZE_MAX);
    ASSERT_EQ(events.size(), last);
    for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].id, i + 1);
    events_seen = last;
    acked_total += acked + 1;
    std::printf("round %d: killed after %ld acknowledged commits, %llu events in the log\n", round, acked + 1,
                static_cast<unsigned long long>(last));
  }
  EXPECT_GT(acked_total, 100) << "the writer barely ran; the test proved little";
}

}  // namespace
}  // namespace bulwark::controller
