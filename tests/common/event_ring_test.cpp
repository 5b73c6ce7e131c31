#include "common/event_ring.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "common/ring_channel.h"

namespace bulwark::ring {
namespace {

struct Memory {
  explicit Memory(uint32_t capacity) : bytes(RingBytes(capacity)), data(new char[bytes + 64]()) {}
  void* aligned() { return data.get() + (64 - reinterpret_cast<uintptr_t>(data.get()) % 64) % 64; }
  size_t bytes;
  std::unique_ptr<char[]> data;
};

Event MakeEvent(uint64_t seq, int32_t rank = 0) {
  Event e{};
  e.comm_id = 0xc0ffee;
  e.seq = seq;
  e.bytes = 8 * seq;
  e.enter_ns = static_cast<int64_t>(seq) * 10;
  e.exit_ns = static_cast<int64_t>(seq) * 10 + 5;
  e.comm_rank = rank;
  e.world_rank = rank;
  e.op = Op::kAllreduce;
  e.datatype = static_cast<uint16_t>(DataType::kFloat32);
  e.pid = 77;
  return e;
}

TEST(EventRingTest, DeliversInOrderAcrossManyLapsAndCountsDrops) {
  Memory m(8);
  RingWriter w = RingWriter::Create(m.aligned(), 8, 77, "test");
  ASSERT_TRUE(w.valid());
  std::string error;
  RingReader r = RingReader::Attach(m.aligned(), m.bytes, &error);
  ASSERT_TRUE(r.valid()) << error;
  Event out[16];
  uint64_t next = 0;
  for (int lap = 0; lap < 50; ++lap) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(w.Append(MakeEvent(next + i)));
    ASSERT_EQ(r.Drain(out, 16), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(out[i].seq, next + i);
      EXPECT_EQ(out[i].bytes, 8 * (next + i));
    }
    next += 5;
  }
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(w.Append(MakeEvent(i)));
  EXPECT_FALSE(w.Append(MakeEvent(99))) << "a full ring drops instead of waiting";
  EXPECT_FALSE(w.Append(MakeEvent(100)));
  EXPECT_EQ(r.drops(), 2u);
  EXPECT_EQ(r.Drain(out, 3), 3u);
  EXPECT_EQ(r.Drain(out, 16), 5u);
  EXPECT_EQ(out[4].seq, 7u);
  EXPECT_EQ(r.Drain(out, 16), 0u);
}

TEST(EventRingTest, ManyWritersOneReaderLoseNothingUncounted) {
  constexpr uint32_t kCapacity = 1024;
  constexpr int kThreads = 4, kPerThread = 50000;
  Memory m(kCapacity);
  RingWriter w = RingWriter::Create(m.aligned(), kCapacity, 77, "test");
  std::string error;
  RingReader r = RingReader::Attach(m.aligned(), m.bytes, &error);
  std::vector<std::thread> writers;
  std::atomic<int> running{kThreads};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) w.Append(MakeEvent(static_cast<uint64_t>(i), t));
      --running;
    });
  }
  std::vector<int64_t> last(kThreads, -1);
  uint64_t received = 0;
  Event out[256];
  bool ordered = true;
  while (true) {
    const bool done = running == 0;
    const size_t n = r.Drain(out, 256);
    for (size_t i = 0; i < n; ++i) {
      const Event& e = out[i];
      ASSERT_GE(e.comm_rank, 0);
      ASSERT_LT(e.comm_rank, kThreads);
      ASSERT_EQ(e.bytes, 8 * e.seq) << "a torn record";
      if (static_cast<int64_t>(e.seq) <= last[e.comm_rank]) ordered = false;
      last[e.comm_rank] = static_cast<int64_t>(e.seq);
    }
    received += n;
    if (done && n == 0) break;
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(ordered) << "each writer's records arrive in its order";
  EXPECT_EQ(received + r.drops(), static_cast<uint64_t>(kThreads) * kPerThread);
}

TEST(EventRingTest, TheCallInFlightIsVisibleToTheReader) {
  Memory m(8);
  RingWriter w = RingWriter::Create(m.aligned(), 8, 77, "test");
  std::string error;
  RingReader r = RingReader::Attach(m.aligned(), m.bytes, &error);
  InFlight seen;
  ASSERT_TRUE(r.ReadInFlight(&seen));
  EXPECT_EQ(seen.op, Op::kUnknown);
  w.Enter(Op::kBarrier, 0xabc, 41, 123456);
  ASSERT_TRUE(r.ReadInFlight(&seen));
  EXPECT_EQ(seen.op, Op::kBarrier);
  EXPECT_EQ(seen.comm_id, 0xabcu);
  EXPECT_EQ(seen.seq, 41u);
  EXPECT_EQ(seen.enter_ns, 123456);
  w.Leave();
  ASSERT_TRUE(r.ReadInFlight(&seen));
  EXPECT_EQ(seen.op, Op::kUnknown);
}

TEST(EventRingTest, ReaderRefusesRingsItDoesNotUnderstand) {
  Memory m(16);
  RingWriter w = RingWriter::Create(m.aligned(), 16, 77, "test");
  std::string error;
  auto* h = w.header();
  h->version = 7;
  EXPECT_FALSE(RingReader::Attach(m.aligned(), m.bytes, &error).valid());
  EXPECT_EQ(error, "ring version 7, this agent reads version 1");
  h->version = kVersion;
  h->record_size = 128;
  EXPECT_FALSE(RingReader::Attach(m.aligned(), m.bytes, &error).valid());
  EXPECT_EQ(error, "ring record size 128, expected 64");
  h->record_size = 64;
  h->capacity = 12;
  EXPECT_FALSE(RingReader::Attach(m.aligned(), m.bytes, &error).valid());
  EXPECT_EQ(error, "ring capacity 12 is not a power of two up to 1048576");
  h->capacity = 1024;
  EXPECT_FALSE(RingReader::Attach(m.aligned(), m.bytes, &error).valid());
  EXPECT_EQ(error, "ring of capacity 1024 needs 65856 bytes, the mapping has 1344");
  h->capacity = 16;
  h->magic = 42;
  EXPECT_FALSE(RingReader::Attach(m.aligned(), m.bytes, &error).valid());
  EXPECT_EQ(error, "not a Bulwark event ring (bad magic)");
  EXPECT_FALSE(RingReader::Attach(m.aligned(), 100, &error).valid());
  EXPECT_EQ(error, "ring of 100 bytes is smaller than its header");
  EXPECT_FALSE(RingWriter::Create(m.aligned(), 12, 77, "test").valid());
}

// A listening Unix socket standing in for the agent.
class FakeAgent {
 public:
  FakeAgent() : path_("/tmp/bw-ring-" + std::to_string(getpid()) + ".sock") {
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
  }
  ~FakeAgent() {
    close(fd_);
    unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  int Accept() { return accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC); }

 private:
  std::string path_;
  int fd_;
};

TEST(RingChannelTest, HandsTheRingToTheAgentWhoSeesTheWriterPidAndItsDeath) {
  FakeAgent agent;
  const pid_t child = fork();
  if (child == 0) {
    WriterChannel channel;
    std::string error;
    if (!OpenWriterChannel(agent.path(), 64, {"pmpi", "job-7", 3}, &channel, &error)) _exit(1);
    for (uint64_t i = 0; i < 10; ++i) channel.writer.Append(MakeEvent(i));
    pause();  // until killed
    _exit(0);
  }
  const int conn = agent.Accept();
  ASSERT_GE(conn, 0);
  AcceptedRing ring;
  std::string error;
  ASSERT_TRUE(AcceptRing(conn, &ring, &error)) << error;
  EXPECT_EQ(ring.pid, child);
  EXPECT_STREQ(ring.reader.header().source, "pmpi");
  EXPECT_STREQ(ring.reader.header().job, "job-7");
  EXPECT_EQ(ring.reader.header().world_rank, 3);
  Event out[16];
  size_t got = 0;
  for (int i = 0; i < 500 && got < 10; ++i) {
    got += ring.reader.Drain(out + got, 16 - got);
    if (got < 10) usleep(2000);
  }
  EXPECT_EQ(got, 10u);
  EXPECT_EQ(out[9].seq, 9u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  pollfd p{ring.socket_fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1) << "the writer's death closes its connection";
  char byte;
  EXPECT_EQ(recv(ring.socket_fd, &byte, 1, 0), 0);
  ReleaseRing(&ring);
}

TEST(RingChannelTest, WithoutAnAgentTheWriterIsToldWhy) {
  WriterChannel channel;
  std::string error;
  EXPECT_FALSE(OpenWriterChannel("/tmp/bw-nobody-listens.sock", 64, {"pmpi", nullptr, 0}, &channel, &error));
  EXPECT_EQ(error, "no agent at /tmp/bw-nobody-listens.sock (No such file or directory)");
  EXPECT_FALSE(OpenWriterChannel(std::string(200, 'x'), 64, {"pmpi", nullptr, 0}, &channel, &error));
  EXPECT_NE(error.find("is longer than 107 bytes"), std::string::npos) << error;
}

TEST(RingChannelTest, AgentRefusesARingOfAnotherVersionAndTheWriterHearsIt) {
  FakeAgent agent;
  std::string agent_error;
  std::thread agent_side([&] {
    const int conn = agent.Accept();
    AcceptedRing ring;
    // Change the version under the writer's feet: what an older hook would have sent.
    char payload;
    iovec iov{&payload, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ASSERT_EQ(recvmsg(conn, &msg, MSG_PEEK), 1);
    int fd;
    std::memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
    void* mem = mmap(nullptr, RingBytes(64), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    static_cast<RingHeader*>(mem)->version = 9;
    munmap(mem, RingBytes(64));
    close(fd);
    EXPECT_FALSE(AcceptRing(conn, &ring, &agent_error));
  });
  WriterChannel channel;
  std::string error;
  EXPECT_FALSE(OpenWriterChannel(agent.path(), 64, {"pmpi", nullptr, 0}, &channel, &error));
  agent_side.join();
  EXPECT_EQ(error, "agent at " + agent.path() + " refused the ring (see the agent's log)");
  EXPECT_NE(agent_error.find("refused: ring version 9, this agent reads version 1"), std::string::npos) << agent_error;
}

}  // namespace
}  // namespace bulwark::ring
