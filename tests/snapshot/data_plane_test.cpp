// The data plane and the parity store in one process over real loopback TCP: members'
// contributions sealed into parity that decodes back to the lost shard, resends after a
// dropped connection not applied twice, a member that changes its shard resets the version,
// garbage frames refused, the memory budget enforced, fetched fragments checked, and a step a
// member moved on from ends its waiters at once.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>

#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "snapshot/data_plane.h"
#include "snapshot/erasure_code.h"
#include "snapshot/node_shard.h"
#include "snapshot/wire.h"

namespace bulwark::snapshot {
namespace {

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(g());
  return v;
}

std::string Prefix() { return "bwdptest" + std::to_string(::getpid()); }

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(0); }
  void Start(uint64_t budget) {
    server_.reset();
    parity_ = std::make_unique<ParityStore>(Prefix(), budget);
    auto s = DataPlaneServer::Start("127.0.0.1", 0, parity_.get(), nullptr, [](const std::string&) {}, 1000, 1000);
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    server_.reset();
    for (int step = 1; step <= 3; ++step) ParityKeyCleanup(step);
  }
  void ParityKeyCleanup(int step) {
    const std::string name = "/" + Prefix() + ".job.g0.p2.s" + std::to_string(step);
    shm_unlink(name.c_str());
  }
  ContributionInfo Info(int block, const NodeShard& shard, int rank) {
    ContributionInfo info;
    info.k = 2;
    info.m = 1;
    info.members = 2;
    info.block = block;
    info.shard = {rank, shard.size(), shard.Crc()};
    return info;
  }
  std::unique_ptr<ParityStore> parity_;
  std::unique_ptr<DataPlaneServer> server_;
  std::string address_;
};

TEST_F(DataPlaneTest, ContributionsSealIntoParityThatRebuildsALostShard) {
  auto code = ErasureCode::Create(2, 1).value();
  const auto a = Random(5000, 1), b = Random(3333, 2);  // different lengths: padded to the longest
  NodeShard sa(1, {{0, a.data(), a.size()}}), sb(1, {{1, b.data(), b.size()}});
  const ParityKey key{"job", 1, 0, 2};
  // Member 0 waits for the seal, which needs member 1: both in parallel, as agents do.
  Status first = Status::Ok();
  std::thread t([&] { first = SendContribution(address_, key, Info(0, sa, 0), code, sa, 1000, 5000); });
  ASSERT_TRUE(SendContribution(address_, key, Info(1, sb, 1), code, sb, 1000, 5000).ok());
  t.join();
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(parity_->sealed_versions(), 1u);

  auto fetched = FetchFragment(address_, {"job", 1, 0, 2}, 5000);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  EXPECT_EQ(fetched->header.shards[0].bytes, sa.size());
  EXPECT_EQ(fetched->header.shards[1].crc, sb.Crc());
  // Lose member 0: rebuild its shard from member 1's block and the parity.
  const size_t len = fetched->payload.size();
  std::vector<uint8_t> block1(len, 0);
  sb.Read(0, block1.data(), sb.size());
  const uint8_t* present[] = {block1.data(), fetched->payload.data()};
  std::vector<uint8_t> out(len);
  uint8_t* outs[] = {out.data()};
  ASSERT_TRUE(code.Decode({1, 2}, present, len, {0}, outs).ok());
  std::vector<uint8_t> want(sa.size());
  sa.Read(0, want.data(), want.size());
  out.resize(sa.size());
  EXPECT_EQ(out, want);
  auto pieces = ParseNodeShard(out.data(), out.size(), 1);
  ASSERT_TRUE(pieces.ok());
  ASSERT_EQ(pieces->size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + (*pieces)[0].offset, out.end()), a);
}

TEST_F(DataPlaneTest, AResentContributionIsNotAppliedTwice) {
  auto code = ErasureCode::Create(2, 1).value();
  const auto a = Random(2500, 3), b = Random(2500, 4);
  NodeShard sa(2, {{0, a.data(), a.size()}}), sb(2, {{1, b.data(), b.size()}});
  const ParityKey key{"job", 2, 0, 2};
  // Member 0 sends everything but the end frame, and the connection drops; then it resends.
  {
    std::vector<uint8_t> coded(sa.size()), plain(sa.size());
    sa.Read(0, plain.data(), plain.size());
    code.Contribution(0, 0, plain.data(), plain.size(), coded.data());
    const auto info = Info(0, sa, 0);
    for (int i = 0; i < 2; ++i) {  // through the real client twice, each with its own connection
      Status s = Status::Ok();
      std::thread t([&] { s = SendContribution(address_, key, info, code, sa, 1000, 300); });
      t.join();
      EXPECT_FALSE(s.ok());  // member 1 has not sent: the seal times out
    }
  }
  Status first = Status::Ok();
  std::thread t([&] { first = SendContribution(address_, key, Info(0, sa, 0), code, sa, 1000, 5000); });
  ASSERT_TRUE(SendContribution(address_, key, Info(1, sb, 1), code, sb, 1000, 5000).ok());
  t.join();
  auto fetched = FetchFragment(address_, {"job", 2, 0, 2}, 5000);
  ASSERT_TRUE(fetched.ok());
  // Parity = c0·a ^ c1·b: computed here independently.
  std::vector<uint8_t> pa(sa.size()), pb(sb.size()), plain(sa.size()), plain_b(sb.size());
  sa.Read(0, plain.data(), plain.size());
  sb.Read(0, plain_b.data(), plain_b.size());
  code.Contribution(0, 0, plain.data(), plain.size(), pa.data());
  code.Contribution(0, 1, plain_b.data(), plain_b.size(), pb.data());
  for (size_t i = 0; i < pa.size(); ++i) pa[i] ^= pb[i];
  EXPECT_TRUE(std::equal(fetched->payload.begin(), fetched->payload.end(), pa.begin(), pa.end()));
}

TEST_F(DataPlaneTest, AMemberThatChangesItsShardResetsTheVersion) {
  auto code = ErasureCode::Create(2, 1).value();
  const auto a = Random(1500, 5), a2 = Random(1500, 6);
  NodeShard sa(3, {{0, a.data(), a.size()}}), sa2(3, {{0, a2.data(), a2.size()}});
  const ParityKey key{"job", 3, 0, 2};
  ContributionInfo info = Info(0, sa, 0);
  ASSERT_TRUE(parity_->Add(key, info, 0, a.data(), 1000).ok());
  ContributionInfo changed = Info(0, sa2, 0);
  ASSERT_TRUE(parity_->Add(key, changed, 0, a2.data(), 1000).ok());  // starts the version over
  // Back to the first shard: over again, so only this chunk counts (a2's 1000 bytes are gone).
  ASSERT_TRUE(parity_->Add(key, info, 1000, a.data(), 540).ok());
  EXPECT_EQ(parity_->WaitSealed(key, info, 100).message(),
            "parity 2 of group 0, job job step 3: block 0 is incomplete (540 of " + std::to_string(sa.size()) + " bytes); resend");
}

// Member 0 sent step 2 and waits; member 1 never sends step 2 but contributes step 3: step 2
// can never seal, and member 0's wait ends now with the reason instead of at its timeout.
// A step whose missing member had already finished it is left to seal.
TEST_F(DataPlaneTest, AnOlderStepAMemberMovedOnFromEndsItsWaitersAtOnce) {
  const auto a = Random(1000, 7), b = Random(1000, 8);
  NodeShard sa(2, {{0, a.data(), a.size()}}), sb(3, {{1, b.data(), b.size()}});
  const ParityKey older{"job", 2, 0, 2}, newer{"job", 3, 0, 2};
  const ContributionInfo info_a = Info(0, sa, 0);
  ASSERT_TRUE(parity_->Add(older, info_a, 0, a.data(), sa.size()).ok());
  Status waited = Status::Ok();
  std::atomic<pid_t> tid{0};
  std::thread waiter([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    waited = parity_->WaitSealed(older, info_a, 60000);
  });
  // Until the waiter sleeps (inside WaitSealed's wait): the newer step must wake it.
  for (int i = 0; i < 500; ++i) {
    std::ifstream stat("/proc/self/task/" + std::to_string(tid.load()) + "/stat");
    std::string pid, comm, state;
    if (tid.load() != 0 && stat >> pid >> comm >> state && state == "S") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(parity_->Add(newer, Info(1, sb, 1), 0, b.data(), sb.size()).ok());
  waiter.join();
  // The reason, not the timeout's "not every member's contribution arrived".
  EXPECT_EQ(waited.message(),
            "parity 2 of group 0, job job step 2 can never seal: block 1's member moved on to step 3 without finishing this one");

  // Member 1 finished step 1 before moving on: step 1 still seals when member 0 comes.
  NodeShard s1a(1, {{0, a.data(), a.size()}}), s1b(1, {{1, b.data(), b.size()}});
  const ParityKey first{"job", 1, 0, 2};
  ASSERT_TRUE(parity_->Add(first, Info(1, s1b, 1), 0, b.data(), s1b.size()).ok());
  ASSERT_TRUE(parity_->Add(newer, Info(1, sb, 1), 0, b.data(), sb.size()).ok());
  ASSERT_TRUE(parity_->Add(first, Info(0, s1a, 0), 0, a.data(), s1a.size()).ok());
  EXPECT_TRUE(parity_->WaitSealed(first, Info(0, s1a, 0), 1000).ok());
}

// Member 1 never sends this step (the plan moved on and it protects a newer one): member 0
// stops waiting for the seal when asked to, not at the holder's timeout (1 s here, 60 s in
// production).
TEST_F(DataPlaneTest, AMemberStopsWaitingForASealTheirPlanNoLongerWants) {
  auto code = ErasureCode::Create(2, 1).value();
  const auto a = Random(1000, 11);
  NodeShard sa(4, {{0, a.data(), a.size()}});
  std::atomic<bool> moved_on{false};
  std::thread plan([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    moved_on = true;
  });
  const Status s = SendContribution(address_, {"job", 4, 0, 2}, Info(0, sa, 0), code, sa, 1000, 60000,
                                    [&] { return moved_on.load(); });
  plan.join();
  EXPECT_EQ(s.message(), address_ + ": stopped waiting for the seal of step 4");
  // Without anyone asking, the wait is the holder's: its timeout's answer comes back.
  EXPECT_EQ(SendContribution(address_, {"job", 4, 0, 2}, Info(0, sa, 0), code, sa, 1000, 60000).message(),
            address_ + ": parity 2 of group 0, job job step 4: not every member's contribution arrived within 1000 ms");
}

TEST_F(DataPlaneTest, GarbageFramesAreRefusedAndTheServerKeepsServing) {
  boost::asio::io_context io;
  wire::Socket socket(io);
  ASSERT_TRUE(wire::Connect(socket, address_, 2000).ok());
  const std::string junk(64, 'x');
  boost::asio::write(socket, boost::asio::buffer(junk));
  auto answer = wire::ReadFrame(socket);  // the server drops the connection
  EXPECT_FALSE(answer.ok());
  // A frame with good framing but meta missing fields is answered with the reason.
  wire::Socket second(io);
  ASSERT_TRUE(wire::Connect(second, address_, 2000).ok());
  ASSERT_TRUE(wire::WriteFrame(second, wire::kFetch, {{"job", "job"}}).ok());
  auto reply = wire::ReadFrame(second);
  ASSERT_TRUE(reply.ok());
  EXPECT_NE(reply->meta.value("message", std::string()).find("bad frame"), std::string::npos) << reply->meta.dump();
  EXPECT_EQ(FetchFragment(address_, {"job", 9, 0, 2}, 2000).status().message(),
            address_ + ": this node holds no sealed parity 2 of group 0, job job step 9");
  EXPECT_GE(server_->counters().bad_frames.load(), 2u);
}

// A link slow enough to take minutes over the bulk transfer is measured on what it sent by
// the deadline: here a terabyte that would take hours on loopback.
TEST_F(DataPlaneTest, AProbesBulkTransferStopsAtItsDeadlineWithARate) {
  auto m = ProbeLink(address_, 2, size_t{1} << 40, 300);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_GT(m->mbps, 0);
  EXPECT_GT(m->latency_us, 0);
}

// Members connect once per step and parity holder: a long run is thousands of connections,
// and the server must not keep a descriptor (or a thread) for each one that has ended.
TEST_F(DataPlaneTest, EndedConnectionsLeaveNoDescriptorsBehind) {
  const auto open_fds = [] { return std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}); };
  EXPECT_TRUE(ProbeLink(address_, 1, 0, 2000).ok());  // the server's first connection, and any lazy setup
  const auto before = open_fds();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(ProbeLink(address_, 1, 0, 2000).ok());
  // The last connections' threads may still be closing: give them a moment, and one more
  // connection to reap them.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(ProbeLink(address_, 1, 0, 2000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(open_fds() - before, 10) << "300 connections came and went";
  EXPECT_GE(server_->counters().connections.load(), 302u);
}

TEST_F(DataPlaneTest, TheMemoryBudgetIsEnforcedAndTheOlderVersionKept) {
  Start(4096);
  const auto a = Random(3000, 7);
  NodeShard sa(1, {{0, a.data(), a.size()}});
  const ParityKey key1{"job", 1, 0, 2};
  auto info = Info(0, sa, 0);
  info.members = 1;
  ASSERT_TRUE(parity_->Add(key1, info, 0, a.data(), 1000).ok());
  ASSERT_TRUE(parity_->Add(key1, info, 1000, a.data(), sa.size() - 1000).ok());
  EXPECT_EQ(parity_->sealed_versions(), 1u);
  const ParityKey key2{"job", 2, 0, 2};
  Status over = parity_->Add(key2, info, 0, a.data(), 1000);
  EXPECT_NE(over.message().find("over the snapshot memory budget of 4096 bytes"), std::string::npos) << over.message();
  EXPECT_EQ(parity_->sealed_versions(), 1u);  // step 1 is still there
  EXPECT_LE(parity_->bytes_held(), 4096u);
  ParityKeyCleanup(1);
  ParityKeyCleanup(2);
}

}  // namespace
}  // namespace bulwark::snapshot
