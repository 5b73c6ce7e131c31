#include "agent/collective_stats.h"

#include <gtest/gtest.h>

namespace bulwark::agent {
namespace {

using ring::Event;
using ring::Op;

Event Call(uint64_t comm, uint64_t seq, int64_t enter_us, int64_t duration_us, uint64_t bytes = 1024,
           uint8_t flags = 0) {
  Event e{};
  e.comm_id = comm;
  e.seq = seq;
  e.bytes = bytes;
  e.enter_ns = enter_us * 1000;
  e.exit_ns = (flags & ring::kEntered) ? 0 : (enter_us + duration_us) * 1000;
  e.comm_rank = 1;
  e.world_rank = 3;
  e.op = Op::kAllreduce;
  e.flags = flags;
  return e;
}

TEST(CollectiveStatsTest, RollingStatisticsPerRankAndCommunicator) {
  CollectiveStats stats;
  std::vector<Event> events;
  for (uint64_t i = 0; i < 100; ++i) events.push_back(Call(0xaa, i, static_cast<int64_t>(i) * 1000, 10 + static_cast<int64_t>(i)));
  events.push_back(Call(0xbb, 0, 0, 500, 8));
  stats.Add(42, 3, events.data(), events.size());
  const CommRankStats* s = stats.Find(42, 0xaa);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->calls, 100u);
  EXPECT_EQ(s->bytes, 102400u);
  EXPECT_EQ(s->last_seq_completed, 99);
  EXPECT_EQ(s->world_rank, 3);

  TelemetryBatch b = stats.Summarize(777, 0);
  EXPECT_EQ(b.time_ms, 777);
  ASSERT_EQ(b.ranks.size(), 1u);
  EXPECT_EQ(b.ranks[0].rank, 3);
  EXPECT_EQ(b.ranks[0].pid, 42);
  ASSERT_EQ(b.ranks[0].comms.size(), 2u);
  const CommStats& c = b.ranks[0].comms[0];
  EXPECT_EQ(c.comm, "00000000000000aa");
  EXPECT_EQ(c.op, "allreduce");
  EXPECT_DOUBLE_EQ(c.mean_us, 59.5);  // durations 10..109 us
  EXPECT_DOUBLE_EQ(c.max_us, 109);
  EXPECT_DOUBLE_EQ(c.p50_us, 60);
  EXPECT_DOUBLE_EQ(c.p99_us, 109);
  EXPECT_EQ(c.last_seq, 99);
  EXPECT_EQ(c.last_seq_done, 99);
  EXPECT_EQ(c.in_call_us, 0);
  EXPECT_EQ(b.ranks[0].comms[1].calls, 1);
}

TEST(CollectiveStatsTest, WindowsAreBounded) {
  CollectiveStats stats(CollectiveStats::Limits{8, 4});
  std::vector<Event> events;
  for (uint64_t i = 0; i < 50; ++i) events.push_back(Call(1, i, static_cast<int64_t>(i) * 100, static_cast<int64_t>(i)));
  stats.Add(7, 0, events.data(), events.size());
  const CommRankStats* s = stats.Find(7, 1);
  EXPECT_EQ(s->durations_ns.size(), 8u);
  EXPECT_EQ(s->durations_ns.front(), 42000);
  ASSERT_EQ(s->recent.size(), 4u);
  EXPECT_EQ(s->recent.front().seq, 46u);
  EXPECT_EQ(s->calls, 50u) << "totals keep counting past the window";
  auto recent = stats.RecentJson(2);
  ASSERT_EQ(recent.size(), 1u);
  ASSERT_EQ(recent[0]["calls"].size(), 2u);
  EXPECT_EQ(recent[0]["calls"][1]["seq"], 49);
}

TEST(CollectiveStatsTest, NonBlockingStartsCountOnlyWhenTheyComplete) {
  CollectiveStats stats;
  Event start = Call(5, 0, 100, 0, 64, ring::kEntered | ring::kNonBlocking);
  stats.Add(9, 0, &start, 1);
  EXPECT_EQ(stats.Find(9, 5)->calls, 0u);
  EXPECT_EQ(stats.Find(9, 5)->last_seq_entered, 0);
  EXPECT_EQ(stats.Find(9, 5)->last_seq_completed, -1);
  Event done = Call(5, 0, 100, 30, 64, ring::kNonBlocking);
  stats.Add(9, 0, &done, 1);
  EXPECT_EQ(stats.Find(9, 5)->calls, 1u);
  EXPECT_EQ(stats.Find(9, 5)->last_seq_completed, 0);
}

TEST(CollectiveStatsTest, ALocalHangIsReportedOncePerCall) {
  CollectiveStats stats;
  Event e = Call(0xcc, 0, 0, 5);
  stats.Add(11, 2, &e, 1);
  ring::InFlight f{Op::kBarrier, 0xcc, 1, 1'000'000'000};
  stats.SetInFlight(11, f);
  EXPECT_TRUE(stats.NewHangs(1'500'000'000, 2'000'000'000).empty()) << "0.5 s inside is below the threshold";
  auto hangs = stats.NewHangs(4'000'000'000, 2'000'000'000);
  ASSERT_EQ(hangs.size(), 1u);
  EXPECT_EQ(hangs[0].pid, 11);
  EXPECT_EQ(hangs[0].world_rank, 2);
  EXPECT_EQ(hangs[0].seq, 1u);
  EXPECT_EQ(hangs[0].op, Op::kBarrier);
  EXPECT_EQ(hangs[0].inside_ms, 3000);
  EXPECT_TRUE(stats.NewHangs(9'000'000'000, 2'000'000'000).empty()) << "the same call is not reported again";
  TelemetryBatch b = stats.Summarize(0, 4'000'000'000);
  EXPECT_DOUBLE_EQ(b.ranks[0].comms[0].in_call_us, 3'000'000);
  EXPECT_EQ(b.ranks[0].comms[0].last_seq, 1);
  EXPECT_EQ(b.ranks[0].comms[0].last_seq_done, 0);
  stats.SetInFlight(11, ring::InFlight{Op::kBarrier, 0xcc, 2, 10'000'000'000});
  EXPECT_EQ(stats.NewHangs(13'000'000'000, 2'000'000'000).size(), 1u) << "the next call that hangs is";
  stats.MarkGone(11);
  EXPECT_EQ(stats.Summarize(0, 14'000'000'000).ranks.size(), 1u) << "a finished rank is summarized once more";
  EXPECT_EQ(stats.Summarize(0, 14'000'000'000).ranks[0].comms[0].in_call_us, 0) << "and is inside no call";
  stats.PruneGone();
  EXPECT_EQ(stats.processes(), 0u);
}

// Each batch carries the calls completed since the previous one, with compute time measured
// from leaving the previous call on the same communicator.
TEST(CollectiveStatsTest, ShipsEachCallsTimingsOnce) {
  CollectiveStats stats;
  std::vector<Event> events = {Call(0xaa, 1, 1000, 50), Call(0xaa, 2, 1300, 20)};
  stats.Add(42, 3, events.data(), events.size());
  TelemetryBatch b = stats.Summarize(1, 0, true);
  const auto& timings = b.ranks.at(0).comms.at(0).timings;
  ASSERT_EQ(timings.size(), 2u);
  EXPECT_EQ(timings[0].seq, 1u);
  EXPECT_DOUBLE_EQ(timings[0].in_call_us, 50);
  EXPECT_DOUBLE_EQ(timings[0].compute_us, 0);  // nothing before the first call to measure from
  EXPECT_EQ(timings[1].seq, 2u);
  EXPECT_DOUBLE_EQ(timings[1].in_call_us, 20);
  EXPECT_DOUBLE_EQ(timings[1].compute_us, 250);  // left #1 at 1050 us, entered #2 at 1300 us
  EXPECT_EQ(b.ranks.at(0).comms.at(0).comm_rank, 1);
  EXPECT_TRUE(stats.Summarize(1, 0, false).ranks.at(0).comms.at(0).timings.empty());

  stats.MarkShipped();
  EXPECT_TRUE(stats.Summarize(2, 0, true).ranks.at(0).comms.at(0).timings.empty());
  events = {Call(0xaa, 3, 1400, 10)};
  stats.Add(42, 3, events.data(), events.size());
  const auto next = stats.Summarize(3, 0, true).ranks.at(0).comms.at(0).timings;
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 3u);
  EXPECT_DOUBLE_EQ(next[0].compute_us, 80);
}

}  // namespace
}  // namespace bulwark::agent
