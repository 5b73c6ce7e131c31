#include "agent/ring_intake.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <vector>

#include "common/ring_channel.h"

namespace bulwark::agent {
namespace {

struct Recorder : IntakeSink {
  void OnRingOpened(const RingOrigin& o) override { opened.push_back(o); }
  void OnEvents(const RingOrigin& o, const ring::Event*, size_t n) override { events[o.ring_id] += n; }
  void OnRingClosed(const RingOrigin& o, uint64_t drops, const std::string& why) override {
    closed[o.ring_id] = why;
    dropped += drops;
  }
  void OnRingRefused(const std::string& why) override { refused.push_back(why); }
  std::vector<RingOrigin> opened;
  std::map<uint64_t, size_t> events;
  std::map<uint64_t, std::string> closed;
  std::vector<std::string> refused;
  uint64_t dropped = 0;
};

// A hooked process stand-in: opens a ring, writes `events`, then finishes or hangs until
// killed. (A ring of another version is refused in event_ring_test.cpp.)
enum class Then { kFinish, kHang };
pid_t StartWriter(const std::string& socket, int events, Then then) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  ring::WriterChannel channel;
  std::string error;
  if (!ring::OpenWriterChannel(socket, 64, {"pmpi", "job-1", 5}, &channel, &error)) _exit(3);
  for (int i = 0; i < events; ++i) {
    ring::Event e{};
    e.seq = static_cast<uint64_t>(i);
    channel.writer.Append(e);
  }
  if (then == Then::kFinish) {
    ring::SayFinished(channel);
    _exit(0);
  }
  pause();
  _exit(0);
}

bool PollUntil(RingIntake& intake, Recorder& rec, const std::function<bool()>& done) {
  for (int i = 0; i < 300; ++i) {
    intake.Poll(10, &rec);
    if (done()) return true;
  }
  return false;
}

TEST(RingIntakeTest, TellsAFinishedWriterFromOneThatWasKilled) {
  const std::string path = "/tmp/bw-intake-" + std::to_string(getpid()) + ".sock";
  auto intake = RingIntake::Listen(path);
  ASSERT_TRUE(intake.ok()) << intake.status().message();
  Recorder rec;
  const pid_t finisher = StartWriter(path, 10, Then::kFinish);
  const pid_t hanger = StartWriter(path, 7, Then::kHang);
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return rec.opened.size() == 2 && !rec.closed.empty(); }));
  waitpid(finisher, nullptr, 0);
  ASSERT_EQ(rec.closed.size(), 1u);
  const uint64_t finished_id = rec.closed.begin()->first;
  EXPECT_EQ(rec.closed[finished_id], "finished");
  EXPECT_EQ(rec.events[finished_id], 10u);
  EXPECT_EQ((*intake)->open_rings(), 1u);

  const auto hanger_events = [&] {
    for (const auto& o : rec.opened)
      if (o.pid == hanger) return rec.events[o.ring_id];
    return size_t{0};
  };
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return hanger_events() == 7; })) << "wrote before it is killed";
  kill(hanger, SIGKILL);
  waitpid(hanger, nullptr, 0);
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return rec.closed.size() == 2; }));
  for (const auto& o : rec.opened) {
    EXPECT_EQ(o.world_rank, 5);
    EXPECT_EQ(o.job, "job-1");
    if (o.pid == hanger) {
      EXPECT_EQ(rec.closed[o.ring_id], "exited without finishing");
      EXPECT_EQ(rec.events[o.ring_id], 7u);
    }
  }
  EXPECT_EQ((*intake)->open_rings(), 0u);
}

TEST(RingIntakeTest, ARefusedRingAffectsNoOther) {
  const std::string path = "/tmp/bw-intake2-" + std::to_string(getpid()) + ".sock";
  auto intake = RingIntake::Listen(path);
  ASSERT_TRUE(intake.ok());
  Recorder rec;
  const pid_t good = StartWriter(path, 3, Then::kHang);
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return rec.opened.size() == 1 && rec.events.size() == 1; }));
  // A connection that sends no ring at all: refused, named, and the good ring keeps flowing.
  const int junk = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(connect(junk, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(write(junk, "hello", 5), 5);
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return !rec.refused.empty(); }));
  EXPECT_NE(rec.refused[0].find("no ring descriptor in the registration"), std::string::npos) << rec.refused[0];
  close(junk);
  EXPECT_EQ((*intake)->open_rings(), 1u);
  EXPECT_TRUE(rec.closed.empty());
  kill(good, SIGKILL);
  waitpid(good, nullptr, 0);
}

TEST(RingIntakeTest, AbstractSocketsWorkAndASecondAgentIsRefused) {
  const std::string name = "@bw-intake-abstract-" + std::to_string(getpid());
  auto intake = RingIntake::Listen(name);
  ASSERT_TRUE(intake.ok()) << intake.status().message();
  Recorder rec;
  const pid_t writer = StartWriter(name, 2, Then::kFinish);
  ASSERT_TRUE(PollUntil(**intake, rec, [&] { return rec.closed.size() == 1; }));
  waitpid(writer, nullptr, 0);
  EXPECT_EQ(rec.closed.begin()->second, "finished");
  EXPECT_FALSE(RingIntake::Listen(name).ok()) << "the name is taken";

  const std::string path = "/tmp/bw-intake3-" + std::to_string(getpid()) + ".sock";
  auto first = RingIntake::Listen(path);
  ASSERT_TRUE(first.ok());
  auto second = RingIntake::Listen(path);
  ASSERT_FALSE(second.ok()) << "a live agent's socket is not taken over";
  EXPECT_EQ(second.status().message(), "another agent already listens on " + path);
}

TEST(RingIntakeTest, ASocketPathTooLongIsAClearError) {
  auto intake = RingIntake::Listen("/tmp/" + std::string(150, 'a') + ".sock");
  ASSERT_FALSE(intake.ok());
  EXPECT_NE(intake.status().message().find("is longer than 107 bytes"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::agent
