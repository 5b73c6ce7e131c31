// libnccl-profiler-bulwark.so driven the way NCCL drives it, from a CPU harness (no GPU, no
// NCCL needed): dlopen, the v5 and v4 tables, init per communicator, collectives started and
// stopped (= enqueued) on the application thread, kernel channels and proxy operations on a
// proxy thread, and the awkward cases: a missing kernel stop (a hang), a late channel (a
// straggler), NULL handles, a parent from another process (PXN), finalize, dlclose, reload.
#include <dlfcn.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "plugins/nccl/nccl_profiler_abi.h"
#include "tests/support/ring_collector.h"

namespace bulwark::nccl {
namespace {

using ring::Event;
using ring::Op;

// One load of the plugin.
class Plugin {
 public:
  Plugin() {
    lib_ = dlopen(BULWARK_NCCL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(lib_, nullptr) << dlerror();
    v5 = static_cast<ProfilerV5*>(dlsym(lib_, "ncclProfiler_v5"));
    v4 = static_cast<ProfilerV4*>(dlsym(lib_, "ncclProfiler_v4"));
  }
  ~Plugin() { Unload(); }
  void Unload() {
    if (lib_) dlclose(lib_);
    lib_ = nullptr;
  }
  ProfilerV5* v5 = nullptr;
  ProfilerV4* v4 = nullptr;

 private:
  void* lib_ = nullptr;
};

EventDescrV5 Coll(uint64_t seq, const char* func, size_t count, uint8_t channels) {
  EventDescrV5 d{};
  d.type = kColl;
  d.rank = 0;
  d.coll.seq_number = seq;
  d.coll.func = func;
  d.coll.count = count;
  d.coll.datatype = "ncclFloat32";
  d.coll.n_channels = channels;
  d.coll.algo = "RING";
  d.coll.proto = "SIMPLE";
  return d;
}

EventDescrV5 Child(uint64_t type, void* parent) {
  EventDescrV5 d{};
  d.type = type;
  d.parent_obj = parent;
  return d;
}

class NcclHarness : public ::testing::Test {
 protected:
  NcclHarness() : intake_("@bw-nccl-" + std::to_string(getpid()) + "-" + std::to_string(counter_++)) {
    setenv("BULWARK_AGENT_SOCKET", intake_.path().c_str(), 1);
    setenv("BULWARK_RANK", "5", 1);
  }
  // Runs one collective through NCCL's sequence of calls: start and stop on this thread,
  // then each channel's kernel on the "proxy" thread, stopping after `delay_ms` each.
  void RunCollective(ProfilerV5* p, void* ctx, uint64_t seq, const char* func, uint8_t channels, int delay_ms = 0) {
    EventDescrV5 d = Coll(seq, func, 1024, channels);
    void* coll = nullptr;
    ASSERT_EQ(p->start_event(ctx, &coll, &d), kSuccess);
    ASSERT_NE(coll, nullptr);
    ASSERT_EQ(p->stop_event(coll), kSuccess);  // enqueued, not finished
    std::thread proxy([&] {
      for (int c = 0; c < channels; ++c) {
        EventDescrV5 k = Child(kKernelCh, coll);
        k.kernel_ch.channel_id = static_cast<uint8_t>(c);
        void* kernel = nullptr;
        p->start_event(ctx, &kernel, &k);
        if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        EventStateArgs args{};
        args.kernel_ch.p_timer = 123;
        p->record_event_state(kernel, kKernelChStop, &args);
        p->stop_event(kernel);
      }
    });
    proxy.join();
  }
  std::vector<Event> Events() {
    std::lock_guard<std::mutex> lock(intake_.collector.mu);
    std::vector<Event> all;
    for (auto& [id, v] : intake_.collector.events) all.insert(all.end(), v.begin(), v.end());
    return all;
  }
  static std::vector<Event> Completed(const std::vector<Event>& all, uint64_t comm) {
    std::vector<Event> out;
    for (const auto& e : all)
      if (e.comm_id == comm && !(e.flags & (ring::kEntered | ring::kProxy))) out.push_back(e);
    return out;
  }
  bool WaitEvents(size_t n) {
    return intake_.WaitFor([&](bulwark::testing::RingCollector& c) {
      size_t total = 0;
      for (auto& [id, v] : c.events) total += v.size();
      return total >= n;
    });
  }

  static inline int counter_ = 0;
  bulwark::testing::IntakeThread intake_;
};

TEST_F(NcclHarness, CollectivesOfTwoCommunicatorsCompleteWhenTheirLastChannelStops) {
  Plugin plugin;
  ASSERT_NE(plugin.v5, nullptr);
  ASSERT_NE(plugin.v4, nullptr);
  EXPECT_STREQ(plugin.v5->name, "Bulwark");
  void *a = nullptr, *b = nullptr;
  int mask_a = 0, mask_b = 0;
  ASSERT_EQ(plugin.v5->init(&a, 0xA11, &mask_a, "dp", 2, 8, 3, nullptr), kSuccess);
  ASSERT_EQ(plugin.v5->init(&b, 0xB22, &mask_b, "tp", 1, 4, 1, nullptr), kSuccess);
  EXPECT_EQ(mask_a, kColl | kP2p | kProxyOp | kProxyStep | kKernelCh);
  for (uint64_t s = 0; s < 5; ++s) {
    RunCollective(plugin.v5, a, s, "AllReduce", 2);
    RunCollective(plugin.v5, b, s, "AllGather", 1);
  }
  ASSERT_TRUE(WaitEvents(20));
  const auto all = Events();
  const auto on_a = Completed(all, 0xA11), on_b = Completed(all, 0xB22);
  ASSERT_EQ(on_a.size(), 5u);
  ASSERT_EQ(on_b.size(), 5u);
  for (uint64_t s = 0; s < 5; ++s) {
    EXPECT_EQ(on_a[s].seq, s);
    EXPECT_EQ(on_a[s].op, Op::kAllreduce);
    EXPECT_EQ(on_a[s].bytes, 4096u) << "1024 x ncclFloat32";
    EXPECT_EQ(on_a[s].comm_rank, 3);
    EXPECT_EQ(on_a[s].world_rank, 5);
    EXPECT_EQ(on_a[s].pid, getpid());
    EXPECT_GE(on_a[s].exit_ns, on_a[s].enter_ns);
    EXPECT_EQ(on_b[s].op, Op::kAllgather);
    EXPECT_EQ(on_b[s].comm_rank, 1);
  }
  size_t entered = 0;
  for (const auto& e : all) entered += (e.flags & ring::kEntered) ? 1 : 0;
  EXPECT_EQ(entered, 10u) << "each collective's enqueue is recorded too";
  EXPECT_EQ(plugin.v5->finalize(a), kSuccess);
  EXPECT_EQ(plugin.v5->finalize(b), kSuccess);
}

TEST_F(NcclHarness, TheApplicationAndProxyThreadsWorkConcurrently) {
  Plugin plugin;
  void* ctx = nullptr;
  int mask = 0;
  plugin.v5->init(&ctx, 0xAB, &mask, "c", 1, 2, 0, nullptr);
  constexpr int kCalls = 3000;
  std::mutex mu;
  std::vector<void*> enqueued;
  std::atomic<bool> app_done{false};
  std::thread proxy([&] {
    int handled = 0;
    while (handled < kCalls) {
      void* coll = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!enqueued.empty()) {
          coll = enqueued.front();
          enqueued.erase(enqueued.begin());
        }
      }
      if (!coll) {
        std::this_thread::yield();
        continue;
      }
      for (int c = 0; c < 2; ++c) {
        EventDescrV5 k = Child(kKernelCh, coll);
        void* kernel = nullptr;
        plugin.v5->start_event(ctx, &kernel, &k);
        plugin.v5->record_event_state(kernel, kKernelChStop, nullptr);
        plugin.v5->stop_event(kernel);
      }
      ++handled;
    }
  });
  for (int i = 0; i < kCalls; ++i) {
    EventDescrV5 d = Coll(static_cast<uint64_t>(i), "AllReduce", 64, 2);
    void* coll = nullptr;
    plugin.v5->start_event(ctx, &coll, &d);
    {
      std::lock_guard<std::mutex> lock(mu);
      enqueued.push_back(coll);
    }
    plugin.v5->stop_event(coll);  // may run before or after its kernels: both orders happen here
  }
  proxy.join();
  ASSERT_TRUE(WaitEvents(2 * kCalls));
  const auto done = Completed(Events(), 0xAB);
  ASSERT_EQ(done.size(), static_cast<size_t>(kCalls));
  std::vector<bool> seen(kCalls, false);
  for (const auto& e : done) {
    ASSERT_LT(e.seq, static_cast<uint64_t>(kCalls));
    EXPECT_FALSE(seen[e.seq]) << "seq " << e.seq << " completed twice";
    seen[e.seq] = true;
  }
  plugin.v5->finalize(ctx);
}

TEST_F(NcclHarness, AMissingKernelStopLeavesTheCollectiveBegunButNotDone) {
  Plugin plugin;
  void* ctx = nullptr;
  int mask = 0;
  plugin.v5->init(&ctx, 0xC0, &mask, "c", 1, 2, 0, nullptr);
  RunCollective(plugin.v5, ctx, 0, "AllReduce", 2);
  // seq 1: two channels, only one ever stops (a hung kernel).
  EventDescrV5 d = Coll(1, "AllReduce", 8, 2);
  void* coll = nullptr;
  plugin.v5->start_event(ctx, &coll, &d);
  plugin.v5->stop_event(coll);
  void *k0 = nullptr, *k1 = nullptr;
  EventDescrV5 kd = Child(kKernelCh, coll);
  plugin.v5->start_event(ctx, &k0, &kd);
  plugin.v5->start_event(ctx, &k1, &kd);
  plugin.v5->record_event_state(k0, kKernelChStop, nullptr);
  plugin.v5->stop_event(k0);
  ASSERT_TRUE(WaitEvents(3));  // seq 0 entered + done, seq 1 entered
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto all = Events();
  const auto done = Completed(all, 0xC0);
  ASSERT_EQ(done.size(), 1u) << "seq 1 must not complete while a channel is still running";
  EXPECT_EQ(done[0].seq, 0u);
  bool seq1_entered = false;
  for (const auto& e : all) seq1_entered |= e.seq == 1 && (e.flags & ring::kEntered);
  EXPECT_TRUE(seq1_entered);
  plugin.v5->finalize(ctx);
}

TEST_F(NcclHarness, ALateChannelMakesThatCollectiveLongerAsAStragglerWould) {
  Plugin plugin;
  void* ctx = nullptr;
  int mask = 0;
  plugin.v5->init(&ctx, 0xD0, &mask, "d", 1, 2, 0, nullptr);
  RunCollective(plugin.v5, ctx, 0, "ReduceScatter", 2, 0);
  RunCollective(plugin.v5, ctx, 1, "ReduceScatter", 2, 40);
  ASSERT_TRUE(WaitEvents(4));
  const auto done = Completed(Events(), 0xD0);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].op, Op::kReduceScatter);
  EXPECT_GE(done[1].exit_ns - done[1].enter_ns, 80'000'000) << "two channels, 40 ms each";
  EXPECT_LT(done[0].exit_ns - done[0].enter_ns, done[1].exit_ns - done[1].enter_ns);
  plugin.v5->finalize(ctx);
}

TEST_F(NcclHarness, ProxyOperationsAreRecordedPerPeerAndForeignParentsAreNeverTouched) {
  Plugin plugin;
  void* ctx = nullptr;
  int mask = 0;
  plugin.v5->init(&ctx, 0xE0, &mask, "e", 2, 8, 2, nullptr);
  EventDescrV5 d = Coll(7, "AllReduce", 256, 1);
  void* coll = nullptr;
  plugin.v5->start_event(ctx, &coll, &d);
  std::thread proxy([&] {
    EventDescrV5 op = Child(kProxyOp, coll);
    op.proxy_op = {getpid(), 1, 6, 4, 1024, 1};
    void* h = nullptr;
    plugin.v5->start_event(ctx, &h, &op);
    for (int s = 0; s < 4; ++s) {
      EventDescrV5 step = Child(kProxyStep, h);
      step.proxy_step.step = s;
      void* sh = nullptr;
      plugin.v5->start_event(ctx, &sh, &step);
      EventStateArgs args{};
      args.proxy_step.trans_size = 1000;
      plugin.v5->record_event_state(sh, kProxyStepSendWait, &args);
      plugin.v5->record_event_state(sh, kProxyStepSendWait, &args);  // the same step reported twice
      plugin.v5->stop_event(sh);
    }
    plugin.v5->stop_event(h);
    // PXN: an operation of another process, whose parent pointer is garbage here.
    EventDescrV5 foreign = Child(kProxyOp, reinterpret_cast<void*>(0xdeadbeef));
    foreign.proxy_op = {getpid() + 100000, 2, 1, 2, 512, 0};
    void* fh = nullptr;
    plugin.v5->start_event(ctx, &fh, &foreign);
    plugin.v5->stop_event(fh);
  });
  proxy.join();
  plugin.v5->stop_event(coll);
  ASSERT_TRUE(WaitEvents(3));
  std::vector<Event> proxies;
  for (const auto& e : Events())
    if (e.flags & ring::kProxy) proxies.push_back(e);
  ASSERT_EQ(proxies.size(), 2u);
  EXPECT_EQ(proxies[0].op, Op::kProxySend);
  EXPECT_EQ(proxies[0].comm_rank, 6) << "the peer";
  EXPECT_EQ(proxies[0].datatype, 1) << "the channel";
  EXPECT_EQ(proxies[0].seq, 7u) << "the collective it served";
  EXPECT_EQ(proxies[0].bytes, 4000u) << "what the steps moved, each step once";
  EXPECT_EQ(proxies[1].op, Op::kProxyRecv);
  EXPECT_EQ(proxies[1].comm_rank, 1);
  EXPECT_EQ(proxies[1].bytes, 1024u) << "no step sizes: steps x chunk";
  plugin.v5->finalize(ctx);
}

TEST_F(NcclHarness, NullHandlesAndUnknownEventsAreHarmless) {
  Plugin plugin;
  void* ctx = nullptr;
  int mask = 0;
  plugin.v5->init(&ctx, 0xF0, &mask, "f", 1, 1, 0, nullptr);
  EXPECT_EQ(plugin.v5->stop_event(nullptr), kSuccess);
  EXPECT_EQ(plugin.v5->record_event_state(nullptr, kKernelChStop, nullptr), kSuccess);
  void* h = reinterpret_cast<void*>(1);
  EventDescrV5 kernel = Child(kKernelCh, nullptr);  // the parent's start returned NULL
  EXPECT_EQ(plugin.v5->start_event(ctx, &h, &kernel), kSuccess);
  EXPECT_EQ(plugin.v5->record_event_state(h, kKernelChStop, nullptr), kSuccess);
  EXPECT_EQ(plugin.v5->stop_event(h), kSuccess);
  EventDescrV5 group = Child(kGroupApi, nullptr);
  EXPECT_EQ(plugin.v5->start_event(ctx, &h, &group), kSuccess);
  EXPECT_EQ(h, nullptr) << "events it does not track get no handle";
  EXPECT_EQ(plugin.v5->start_event(nullptr, &h, &group), kSuccess);
  EXPECT_EQ(plugin.v5->start_event(ctx, &h, nullptr), kSuccess);
  EXPECT_EQ(plugin.v5->finalize(ctx), kSuccess);
}

TEST_F(NcclHarness, FinalizeUnloadAndReloadThroughTheV4Table) {
  {
    Plugin plugin;
    void* ctx = nullptr;
    int mask = 0;
    plugin.v5->init(&ctx, 0x51, &mask, "x", 1, 2, 0, nullptr);
    RunCollective(plugin.v5, ctx, 0, "Broadcast", 1);
    plugin.v5->finalize(ctx);
    plugin.Unload();
  }
  ASSERT_TRUE(intake_.WaitFor([](auto& c) { return c.closed.size() == 1; })) << "unloading closes the ring";
  {
    std::lock_guard<std::mutex> lock(intake_.collector.mu);
    EXPECT_EQ(intake_.collector.closed.begin()->second, "finished");
  }
  Plugin again;
  void* ctx = nullptr;
  int mask = 0;
  ASSERT_EQ(again.v4->init(&ctx, &mask, "y", 0x52, 1, 2, 1, nullptr), kSuccess);
  EXPECT_NE(mask, 0);
  EventDescrV4 d{};
  d.type = static_cast<uint8_t>(kColl);
  d.coll.seq_number = 0;
  d.coll.func = "AllReduce";
  d.coll.count = 10;
  d.coll.datatype = "ncclFloat64";
  d.coll.n_channels = 1;
  void* coll = nullptr;
  again.v4->start_event(ctx, &coll, &d);
  again.v4->stop_event(coll);
  EventDescrV4 k{};
  k.type = static_cast<uint8_t>(kKernelCh);
  k.parent_obj = coll;
  void* kernel = nullptr;
  again.v4->start_event(ctx, &kernel, &k);
  again.v4->record_event_state(kernel, kKernelChStop, nullptr);
  again.v4->stop_event(kernel);
  ASSERT_TRUE(intake_.WaitFor([](auto& c) { return c.origins.size() == 2; })) << "the reload opens a new ring";
  ASSERT_TRUE(WaitEvents(4));
  const auto done = Completed(Events(), 0x52);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].bytes, 80u) << "10 x ncclFloat64";
  EXPECT_EQ(done[0].op, Op::kAllreduce);
  again.v4->finalize(ctx);
}

TEST(NcclHarnessNoAgent, WithoutAnAgentTheJobAsksForNoEvents) {
  setenv("BULWARK_AGENT_SOCKET", "@bw-nccl-nobody-listens", 1);
  Plugin plugin;
  void* ctx = reinterpret_cast<void*>(1);
  int mask = -1;
  ASSERT_EQ(plugin.v5->init(&ctx, 1, &mask, "z", 1, 1, 0, nullptr), kSuccess) << "init never fails the job";
  EXPECT_EQ(mask, 0);
  EXPECT_EQ(ctx, nullptr);
  EventDescrV5 d = Coll(0, "AllReduce", 1, 1);
  void* h = reinterpret_cast<void*>(1);
  EXPECT_EQ(plugin.v5->start_event(ctx, &h, &d), kSuccess);
  EXPECT_EQ(h, nullptr);
  EXPECT_EQ(plugin.v5->finalize(ctx), kSuccess);
}

}  // namespace
}  // namespace bulwark::nccl
