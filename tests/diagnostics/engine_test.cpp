// The engine from hand-built input streams: crashes among ranks torn down together, hangs
// (missing, stopped, communication), stragglers and imbalance from per-call timings,
// several communicators, sequence numbers that wrap, a rank that restarts, a lost node,
// and record/replay giving the same verdicts.
#include "diagnostics/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "diagnostics/trace.h"
#include "tests/support/temp_dir.h"

namespace bulwark::diagnostics {
namespace {

// Options whose hang threshold applies from the first collective: the hand-built streams
// here use small sequence numbers.
EngineOptions PastWarmup(int64_t hang_ms) {
  EngineOptions o;
  o.hang_ms = hang_ms;
  o.warmup_collectives = 0;
  return o;
}

std::string Node(int64_t rank) { return "node-0" + std::to_string(rank + 1); }

// One rank's state on one communicator, as its agent ships it.
TelemetryBatch Batch(int64_t rank, const std::string& comm, uint64_t begun, uint64_t done, double in_call_us,
                     std::vector<CommStats::Timing> timings = {}, const std::string& state = "R", int64_t pid = 0) {
  CommStats c;
  c.comm = comm;
  c.op = "allreduce";
  c.last_seq = static_cast<int64_t>(begun);
  c.last_seq_done = static_cast<int64_t>(done);
  c.in_call_us = in_call_us;
  c.timings = std::move(timings);
  RankTelemetry r;
  r.rank = rank;
  r.pid = pid ? pid : 1000 + rank;
  r.state = state;
  r.comms = {c};
  TelemetryBatch b;
  b.ranks = {r};
  return b;
}

std::vector<std::string> Kinds(const std::vector<Verdict>& verdicts) {
  std::vector<std::string> out;
  for (const auto& v : verdicts) out.push_back(VerdictKindName(v.kind));
  return out;
}

// Feeds `collectives` calls on `comm` for `ranks` ranks: compute 10 ms each, `extra(rank, i)`
// percent more; the latest rank waits least inside. Ticks after each batch of 5 calls.
template <typename Sink>
std::vector<Verdict> FeedCollectives(Sink& engine, const std::string& comm, int ranks, uint64_t first_seq,
                                     int collectives, const std::function<double(int, int)>& extra, int64_t* now,
                                     int64_t pid_base = 1000) {
  std::vector<Verdict> out;
  std::vector<std::vector<CommStats::Timing>> per_rank(static_cast<size_t>(ranks));
  for (int i = 0; i < collectives; ++i) {
    std::vector<double> compute(static_cast<size_t>(ranks));
    double slowest = 0;
    for (int r = 0; r < ranks; ++r) {
      compute[static_cast<size_t>(r)] = 10000 * (1 + extra(r, i) / 100);
      slowest = std::max(slowest, compute[static_cast<size_t>(r)]);
    }
    for (int r = 0; r < ranks; ++r) {
      const double inside = 200 + slowest - compute[static_cast<size_t>(r)];
      per_rank[static_cast<size_t>(r)].push_back({first_seq + static_cast<uint64_t>(i), inside, compute[static_cast<size_t>(r)]});
    }
    if ((i + 1) % 5 == 0) {
      *now += 100;
      for (int r = 0; r < ranks; ++r) {
        const uint64_t last = first_seq + static_cast<uint64_t>(i);
        engine.Telemetry(Node(r), Batch(r, comm, last, last, 0, per_rank[static_cast<size_t>(r)], "R", pid_base + r), *now);
        per_rank[static_cast<size_t>(r)].clear();
      }
      auto reached = engine.Tick(*now);
      out.insert(out.end(), reached.begin(), reached.end());
    }
  }
  return out;
}

TEST(EngineTest, TheFirstRankGoneIsTheCrashTheRestAreItsEcho) {
  Engine engine;
  // Rank 2's exit reaches the controller first, but rank 1 went 40 ms earlier on its own node.
  engine.RankGone("node-03", 2, 1002, "ring writer vanished", 10040, 5000);
  engine.RankGone("node-02", 1, 1001, "exited by signal 9", 10000, 5100);
  EXPECT_TRUE(engine.Tick(5400).empty());  // still gathering
  const auto verdicts = engine.Tick(5600);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"crash"});
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{1});
  EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"node-02"});
  EXPECT_TRUE(verdicts[0].blames_node());
  EXPECT_EQ(verdicts[0].evidence, "rank 1 (pid 1001 on node-02) exited by signal 9; 1 more ranks went after it");
  EXPECT_EQ(verdicts[0].detail["followers"][0]["after_ms"], 40);
  // The launcher tearing down the rest is not another crash.
  engine.RankGone("node-01", 0, 1000, "ring writer vanished", 10300, 6000);
  EXPECT_TRUE(engine.Tick(8000).empty());
  // Long after, a new crash is a new verdict.
  engine.RankGone("node-01", 0, 2000, "exited by signal 11", 30000, 30000);
  EXPECT_EQ(Kinds(engine.Tick(31000)), std::vector<std::string>{"crash"});
}

TEST(EngineTest, AfterARelaunchARankGoneIsANewCrashAtOnce) {
  Engine engine;
  engine.RankGone("node-02", 1, 1001, "exited by signal 9", 10000, 5000);
  ASSERT_EQ(Kinds(engine.Tick(5600)), std::vector<std::string>{"crash"});
  engine.RankGone("node-01", 0, 1000, "ring writer vanished", 10300, 5700);  // the teardown
  EXPECT_TRUE(engine.Tick(6500).empty());
  // The job is launched again on a spare, whose rank dies while restoring: inside the echo
  // window of the first verdict, but a fault of the new attempt.
  engine.Relaunched(7000);
  engine.RankGone("spare-01", 1, 3001, "exited by signal 9", 12500, 7500);
  const auto verdicts = engine.Tick(8100);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"crash"});
  EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"spare-01"});
}

TEST(EngineTest, ARankThatNeverEntersIsNamedOnceAfterTheThreshold) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  engine.Telemetry("node-01", Batch(0, "c", 11, 10, 1e6), 0);
  engine.Telemetry("node-02", Batch(1, "c", 10, 10, 0, {}, "S"), 0);
  engine.Telemetry("node-03", Batch(2, "c", 11, 10, 2e6), 0);
  EXPECT_TRUE(engine.Tick(2000).empty());
  const auto verdicts = engine.Tick(3100);  // rank 2 entered 2 s before the batch: 5.1 s inside
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"hang"});
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{1});
  EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"node-02"});
  EXPECT_EQ(verdicts[0].detail["seq"], 11);
  EXPECT_NE(verdicts[0].evidence.find("never entered it; rank 1 is in process state S"), std::string::npos)
      << verdicts[0].evidence;
  EXPECT_TRUE(engine.Tick(9000).empty());  // said once
  // It moves on, then hangs again at the next call: a new verdict.
  for (int r = 0; r < 3; ++r) engine.Telemetry(Node(r), Batch(r, "c", 12, 12, 0), 10000);
  EXPECT_TRUE(engine.Tick(10000).empty());
  engine.Telemetry("node-01", Batch(0, "c", 13, 12, 100), 11000);
  engine.Telemetry("node-02", Batch(1, "c", 13, 12, 100), 11000);
  engine.Telemetry("node-03", Batch(2, "c", 12, 12, 0), 11000);
  const auto again = engine.Tick(17000);
  ASSERT_EQ(Kinds(again), std::vector<std::string>{"hang"});
  EXPECT_EQ(again[0].ranks, std::vector<int64_t>{2});
}

TEST(EngineTest, ARankSlowInTheFirstCollectivesGetsTheWarmupThreshold) {
  EngineOptions o;
  o.hang_ms = 5000;
  o.warmup_hang_ms = 20000;
  o.warmup_collectives = 16;
  Engine engine(o);
  // Collective #12 is warm-up: 6 s of waiting for rank 1 is start-up, not a hang.
  engine.Telemetry("node-01", Batch(0, "c", 12, 11, 6e6), 0);
  engine.Telemetry("node-02", Batch(1, "c", 11, 11, 0), 0);
  EXPECT_TRUE(engine.Tick(0).empty());
  EXPECT_TRUE(engine.Tick(13900).empty());
  const auto late = engine.Tick(14100);  // 20.1 s inside
  ASSERT_EQ(Kinds(late), std::vector<std::string>{"hang"});
  EXPECT_EQ(late[0].detail["threshold_ms"], 20000);
  // Past warm-up the usual threshold holds.
  Engine past(o);
  past.Telemetry("node-01", Batch(0, "c", 17, 16, 6e6), 0);
  past.Telemetry("node-02", Batch(1, "c", 16, 16, 0), 0);
  const auto verdicts = past.Tick(0);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"hang"});
  EXPECT_EQ(verdicts[0].detail["threshold_ms"], 5000);
}

TEST(EngineTest, AHungJobTornDownIsTheHangsEchoNotACrash) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  engine.Telemetry("node-01", Batch(0, "c", 11, 10, 6e6), 0);
  engine.Telemetry("node-02", Batch(1, "c", 10, 10, 0, {}, "T"), 0);
  ASSERT_EQ(Kinds(engine.Tick(100)), std::vector<std::string>{"hang"});
  // The operator resumes the stopped rank (the hang resolves), then kills the job.
  for (int r = 0; r < 2; ++r) engine.Telemetry(Node(r), Batch(r, "c", 12, 12, 0), 2000);
  EXPECT_TRUE(engine.Tick(2000).empty());
  engine.RankGone("node-01", 0, 1000, "exited by signal 9", 2100, 2100);
  engine.RankGone("node-02", 1, 1001, "exited by signal 9", 2100, 2100);
  EXPECT_TRUE(engine.Tick(3000).empty());
  // The same job's ranks going long after a hang that resolved are a crash again.
  Engine later(o);
  later.Telemetry("node-01", Batch(0, "c", 11, 10, 6e6), 0);
  later.Telemetry("node-02", Batch(1, "c", 10, 10, 0, {}, "T"), 0);
  ASSERT_EQ(Kinds(later.Tick(100)), std::vector<std::string>{"hang"});
  for (int r = 0; r < 2; ++r) later.Telemetry(Node(r), Batch(r, "c", 12, 12, 0), 2000);
  later.Tick(2000);
  later.RankGone("node-02", 1, 1001, "exited by signal 9", 20000, 20000);
  EXPECT_EQ(Kinds(later.Tick(21000)), std::vector<std::string>{"crash"});
}

TEST(EngineTest, AStoppedRankInsideTheCallIsTheCulpritNotTheNetwork) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  for (int r = 0; r < 3; ++r) engine.Telemetry(Node(r), Batch(r, "c", 7, 6, 6e6, {}, r == 2 ? "T" : "R"), 0);
  const auto verdicts = engine.Tick(0);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"hang"});
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{2});
  EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"node-03"});
  EXPECT_NE(verdicts[0].evidence.find("stopped or uninterruptible (process state T)"), std::string::npos);
}

// Seen in CI: SIGSTOP on rank 3 during an allgather; rank 1, still inside that allgather
// behind it, had not entered the next collective either, and both nodes were blamed.
TEST(EngineTest, OfTheRanksThatNeverEnteredTheStoppedOneIsTheCulprit) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  engine.Telemetry("node-01", Batch(0, "c", 94, 93, 6e6, {}, "R"), 0);
  engine.Telemetry("node-02", Batch(1, "c", 93, 92, 6e6, {}, "R"), 0);
  engine.Telemetry("node-03", Batch(2, "c", 94, 93, 6e6, {}, "R"), 0);
  engine.Telemetry("node-04", Batch(3, "c", 93, 92, 6e6, {}, "T"), 0);
  const auto verdicts = engine.Tick(100);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"hang"});
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{3});
  EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"node-04"});
  EXPECT_NE(verdicts[0].evidence.find("rank 1 is in process state R; rank 3 is in process state T; the others wait on rank 3, which cannot run"),
            std::string::npos)
      << verdicts[0].evidence;
}

TEST(EngineTest, EveryRankWaitingInsideIsACommunicationHangThatBlamesNoNode) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  for (int r = 0; r < 3; ++r) engine.Telemetry(Node(r), Batch(r, "c", 7, 6, 6e6), 0);
  const auto verdicts = engine.Tick(0);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"communication_hang"});
  EXPECT_EQ(verdicts[0].ranks, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(verdicts[0].nodes.empty());
  EXPECT_FALSE(verdicts[0].blames_node());
}

TEST(EngineTest, ACrashedRanksPeersWaitingAreNotAHang) {
  EngineOptions o = PastWarmup(5000);
  Engine engine(o);
  for (int r = 0; r < 3; ++r) engine.Telemetry(Node(r), Batch(r, "c", r == 1 ? 6 : 7, 6, r == 1 ? 0 : 1000), 0);
  engine.RankGone("node-02", 1, 1001, "exited by signal 9", 0, 0);
  // Its final statistics arrive after the exit: it stays gone.
  engine.Telemetry("node-02", Batch(1, "c", 6, 6, 0), 200);
  EXPECT_EQ(Kinds(engine.Tick(1000)), std::vector<std::string>{"crash"});
  EXPECT_TRUE(engine.Tick(9000).empty());
}

TEST(EngineTest, APersistentStragglerIsNamedWithItsSlowdownOnce) {
  for (double percent : {20.0, 50.0}) {
    Engine engine;
    int64_t now = 0;
    const auto verdicts = FeedCollectives(engine, "c", 4, 1, 40, [&](int r, int) { return r == 3 ? percent : 0.0; }, &now);
    ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"straggler"}) << percent;
    EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{3});
    EXPECT_EQ(verdicts[0].nodes, std::vector<std::string>{"node-04"});
    EXPECT_NEAR(verdicts[0].detail["slowdown_percent"].get<double>(), percent, 1);
    EXPECT_GE(verdicts[0].confidence, 0.8);
  }
}

// The operator's heat map: the newest collectives every member reported, each rank's
// lateness in them, and a straggler score that singles out the rank the others wait for.
TEST(EngineTest, TheLatenessViewShowsWhoTheOthersWaitedFor) {
  Engine engine;
  int64_t now = 0;
  FeedCollectives(engine, "c", 4, 1, 60, [](int r, int) { return r == 2 ? 30.0 : 0.0; }, &now);
  const nlohmann::json view = engine.LatenessJson();
  ASSERT_EQ(view["communicators"].size(), 1u) << view.dump();
  const auto& comm = view["communicators"][0];
  EXPECT_EQ(comm["ranks"].size(), 4u);
  EXPECT_EQ(comm["ranks"][2]["node"], "node-03");
  // Of the 60 collectives, the newest 48 are kept.
  ASSERT_EQ(comm["collectives"].size(), 48u);
  EXPECT_EQ(comm["collectives"].back()["seq"], 60);
  const auto& late = comm["collectives"].back()["lateness_us"];
  EXPECT_NEAR(late["2"].get<double>(), 3000, 1) << "30% of 10 ms compute later than the rest";
  EXPECT_NEAR(late["0"].get<double>(), 0, 1);
  EXPECT_NEAR(comm["straggler_score"]["2"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(comm["straggler_score"]["0"].get<double>(), 0.0, 1e-9);
}

TEST(EngineTest, LatenessThatMovesIsImbalanceAndNoiseIsNothing) {
  Engine moving;
  int64_t now = 0;
  auto verdicts = FeedCollectives(moving, "c", 4, 1, 80, [](int r, int i) { return r == i % 4 ? 30.0 : 0.0; }, &now);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"imbalance"});
  EXPECT_FALSE(verdicts[0].blames_node());

  Engine noisy;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> jitter(0, 3);
  now = 0;
  EXPECT_TRUE(FeedCollectives(noisy, "c", 4, 1, 200, [&](int, int) { return jitter(rng); }, &now).empty());
}

TEST(EngineTest, SeveralCommunicatorsWrappingSequencesAndOneVerdictPerStraggler) {
  Engine engine;
  int64_t now = 0;
  const auto slow = [](int r, int) { return r == 1 ? 30.0 : 0.0; };
  // The world communicator wraps through 2^64; a second one starts at 1. Same ranks in both.
  auto verdicts = FeedCollectives(engine, "world", 3, UINT64_MAX - 12, 40, slow, &now);
  auto more = FeedCollectives(engine, "tp", 3, 1, 40, slow, &now);
  verdicts.insert(verdicts.end(), more.begin(), more.end());
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"straggler"});
  EXPECT_EQ(verdicts[0].comm, "world");
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{1});
}

TEST(EngineTest, ARankThatRestartsStartsItsCommunicatorOver) {
  Engine engine;
  int64_t now = 0;
  const auto slow = [](int r, int) { return r == 2 ? 40.0 : 0.0; };
  EXPECT_TRUE(FeedCollectives(engine, "c", 3, 1, 5, slow, &now).empty());
  // The ranks came back as new processes (new pids): 5 + 5 collectives are not the 10 a verdict needs.
  EXPECT_TRUE(FeedCollectives(engine, "c", 3, 1, 5, slow, &now, 5000).empty());
  const auto later = FeedCollectives(engine, "c", 3, 6, 20, slow, &now, 5000);
  ASSERT_EQ(Kinds(later), std::vector<std::string>{"straggler"});
}

TEST(EngineTest, ALostNodeIsAVerdictAndItsPeersFailingAfterAreNot) {
  Engine engine;
  for (int r = 0; r < 3; ++r) engine.Telemetry(Node(r), Batch(r, "c", 5, 5, 0), 0);
  engine.NodeLost("node-02", "no heartbeat for 3100 ms", 3100);
  engine.RankGone("node-01", 0, 1000, "exited by signal 15", 3200, 3200);
  const auto verdicts = engine.Tick(4000);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"node_lost"});
  EXPECT_EQ(verdicts[0].ranks, std::vector<int64_t>{1});
  EXPECT_EQ(verdicts[0].evidence, "node node-02 went silent: no heartbeat for 3100 ms; it ran ranks 1");
}

TEST(EngineTest, ARecordedTraceReplaysToTheSameVerdicts) {
  const std::string path = testing::UniqueTempDir() + "/trace.jsonl";
  std::filesystem::remove(path);
  EngineOptions o = PastWarmup(5000);
  std::vector<Verdict> live;
  {
    RecordingEngine engine(o);
    ASSERT_TRUE(engine.RecordTo(path).ok());
    int64_t now = 0;
    live = FeedCollectives(engine, "c", 4, 1, 40, [](int r, int) { return r == 0 ? 25.0 : 0.0; }, &now);
    engine.Telemetry("node-01", Batch(0, "c", 41, 40, 100), now + 10);
    engine.Telemetry("node-02", Batch(1, "c", 40, 40, 0), now + 10);
    auto hang = engine.Tick(now + 6000);
    live.insert(live.end(), hang.begin(), hang.end());
    EXPECT_GT(engine.records_written(), 20u);
  }
  ASSERT_EQ(Kinds(live), (std::vector<std::string>{"straggler", "hang"}));
  std::ifstream in(path);
  auto replayed = ReplayTrace(in, o);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  ASSERT_EQ(replayed->size(), live.size());
  for (size_t i = 0; i < live.size(); ++i) EXPECT_EQ(ToJson((*replayed)[i]), ToJson(live[i]));

  std::istringstream bad("{\"t\":1,\"in\":\"tick\"}\n{\"t\":2,\"in\":\"telemetry\",\"node\":\"a\",\"batch\":{\"ranks\":[]}}\n");
  auto error = ReplayTrace(bad, o);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), "trace line 2: batches[0].time_ms: is required");
  std::istringstream unknown("{\"t\":1,\"in\":\"reboot\"}\n");
  EXPECT_EQ(ReplayTrace(unknown, o).status().message(),
            "trace line 1: in: must be one of {telemetry, rank_gone, node_lost, relaunched, tick}, got 'reboot'");
}

}  // namespace
}  // namespace bulwark::diagnostics

namespace bulwark::diagnostics {
namespace {

// Three ranks with equal compute; every collective's transfer (the last arrival's time
// inside) is `transfer_us` for the first 60 and `slow_us` after.
std::vector<Verdict> FeedTransfers(Engine& engine, int collectives, double transfer_us, double slow_us) {
  std::vector<Verdict> out;
  for (int i = 0; i < collectives; i += 5) {
    for (int r = 0; r < 3; ++r) {
      std::vector<CommStats::Timing> t;
      for (int k = i; k < i + 5; ++k) {
        const double transfer = k < 60 ? transfer_us : slow_us;
        t.push_back({static_cast<uint64_t>(k + 1), transfer + 10.0 * r, 20000});
      }
      engine.Telemetry(Node(r), Batch(r, "c", static_cast<uint64_t>(i + 5), static_cast<uint64_t>(i + 5), 0, t), i * 25);
    }
    auto v = engine.Tick(i * 25);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(EngineTest, EveryoneSlowerTogetherIsSlowCommunicationNamingTheJobsNodes) {
  Engine engine;
  const auto verdicts = FeedTransfers(engine, 160, 300, 3000);
  ASSERT_EQ(Kinds(verdicts), std::vector<std::string>{"slow_communication"});
  EXPECT_FALSE(verdicts[0].blames_node());
  EXPECT_EQ(verdicts[0].detail["job_nodes"], nlohmann::json({"node-01", "node-02", "node-03"}));
  EXPECT_NEAR(verdicts[0].detail["normal_us"].get<double>(), 300, 1);
  EXPECT_NEAR(verdicts[0].detail["now_us"].get<double>(), 3000, 1);

  Engine steady;  // the same network all along, and a slowdown too small to matter
  EXPECT_TRUE(FeedTransfers(steady, 160, 300, 300).empty());
  Engine small;
  EXPECT_TRUE(FeedTransfers(small, 160, 20, 200).empty()) << "10x of microseconds is scheduling, not the network";
}

}  // namespace
}  // namespace bulwark::diagnostics
