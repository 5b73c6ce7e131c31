// The diagnosis cores from hand-built traces: hangs (a missing rank, a communication hang,
// sequence numbers that wrap, waits under the threshold) and lateness (a persistent
// straggler at +20% and +50% with its slowdown, lateness that moves between ranks, noise).
#include <gtest/gtest.h>

#include <random>

#include "diagnostics/hang.h"
#include "diagnostics/lateness.h"

namespace bulwark::diagnostics {
namespace {

TEST(HangTest, ARankThatNeverEntersIsTheCulprit) {
  const std::vector<RankCallState> ranks = {
      {0, "node-01", 41, 40, 9000}, {1, "node-02", 40, 40, 0}, {2, "node-03", 41, 40, 9100}, {3, "node-04", 41, 40, 8800}};
  const HangVerdict v = AssessHang(ranks, 5000);
  EXPECT_EQ(v.kind, HangKind::kMissingRank);
  EXPECT_EQ(v.culprits, std::vector<int>{1});
  EXPECT_EQ(v.seq, 41u);
  EXPECT_EQ(v.waited_ms, 9100);
  EXPECT_EQ(v.evidence, "ranks 0,2,3 have waited 9100 ms inside collective #41; ranks 1 (node-02) never entered it");
}

TEST(HangTest, EveryRankInsideTheSameCallIsACommunicationHang) {
  const std::vector<RankCallState> ranks = {{0, "a", 7, 6, 6000}, {1, "b", 7, 6, 6100}, {2, "c", 7, 6, 5900}};
  const HangVerdict v = AssessHang(ranks, 5000);
  EXPECT_EQ(v.kind, HangKind::kCommunicationHang);
  EXPECT_TRUE(v.culprits.empty());
  EXPECT_EQ(v.waiting, (std::vector<int>{0, 1, 2}));
}

TEST(HangTest, WaitsUnderTheThresholdAndFinishedCallsAreNotHangs) {
  EXPECT_EQ(AssessHang({{0, "a", 41, 40, 300}, {1, "b", 40, 40, 0}}, 5000).kind, HangKind::kNone);  // just arrived
  EXPECT_EQ(AssessHang({{0, "a", 41, 41, 0}, {1, "b", 41, 41, 0}}, 5000).kind, HangKind::kNone);    // all done
  // One rank entered a moment ago: a communication hang needs every rank to have waited.
  EXPECT_EQ(AssessHang({{0, "a", 7, 6, 9000}, {1, "b", 7, 6, 10}}, 5000).kind, HangKind::kNone);
  EXPECT_EQ(AssessHang({{0, "a", 7, 6, 9000}}, 5000).kind, HangKind::kNone);  // one rank alone cannot hang
}

TEST(HangTest, SequenceNumbersThatWrapStillOrder) {
  const uint64_t last = UINT64_MAX;
  const std::vector<RankCallState> ranks = {{0, "a", 0, last, 7000}, {1, "b", last, last, 0}};  // rank 0 entered #0 after #max
  const HangVerdict v = AssessHang(ranks, 5000);
  EXPECT_EQ(v.kind, HangKind::kMissingRank);
  EXPECT_EQ(v.culprits, std::vector<int>{1});
  EXPECT_EQ(v.seq, 0u);
}

// A job of `ranks` ranks whose compute per step is `base_us` (plus noise), with rank
// `slow` (or none) slower by `slowdown`; each collective's time inside is what waiting for
// the last arrival gives each rank, plus the transfer itself.
std::vector<CollectiveTiming> Trace(int ranks, int steps, int slow, double slowdown, uint32_t seed, bool moving = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 0.01);
  std::vector<CollectiveTiming> out;
  for (int s = 0; s < steps; ++s) {
    CollectiveTiming t;
    t.seq = static_cast<uint64_t>(s + 1);
    std::vector<double> compute(static_cast<size_t>(ranks));
    const int late = moving ? static_cast<int>(rng() % ranks) : slow;
    for (int r = 0; r < ranks; ++r) {
      compute[static_cast<size_t>(r)] = 10000 * (1 + noise(rng)) * (r == late ? 1 + slowdown : 1.0);
    }
    const double arrival = *std::max_element(compute.begin(), compute.end());
    for (int r = 0; r < ranks; ++r) t.in_call_us.push_back(arrival - compute[static_cast<size_t>(r)] + 500);
    t.compute_us = compute;
    out.push_back(t);
  }
  return out;
}

TEST(LatenessTest, APersistentStragglerIsNamedWithItsSlowdown) {
  for (double slowdown : {0.2, 0.5}) {
    LatenessDetector d;
    for (auto& t : Trace(8, 20, 5, slowdown, 1)) d.Add(t);
    const LatenessAssessment a = d.Assess();
    EXPECT_EQ(a.kind, LatenessKind::kStraggler) << slowdown;
    EXPECT_EQ(a.rank, 5);
    EXPECT_NEAR(a.slowdown_percent, slowdown * 100, 3) << a.evidence;
    EXPECT_GE(a.share, 0.8);
    EXPECT_FALSE(a.evidence_seqs.empty());
  }
}

TEST(LatenessTest, LatenessThatMovesBetweenRanksIsImbalanceNotAFault) {
  LatenessDetector d;
  for (auto& t : Trace(8, 60, -1, 0.3, 2, /*moving=*/true)) d.Add(t);
  const LatenessAssessment a = d.Assess();
  EXPECT_EQ(a.kind, LatenessKind::kImbalance) << a.evidence;
  EXPECT_EQ(a.rank, -1);
  EXPECT_NEAR(a.lost_fraction, 0.3, 0.03) << "each step the others wait the late rank's extra 30%";
}

TEST(LatenessTest, ABurstOfMovingLatenessInALongCleanRunIsNothing) {
  LatenessDetector d;
  for (auto& t : Trace(4, 80, -1, 0, 8)) d.Add(t);
  for (auto& t : Trace(4, 10, -1, 0.5, 9, /*moving=*/true)) d.Add(t);  // a second of scheduling noise
  for (auto& t : Trace(4, 10, -1, 0, 10)) d.Add(t);
  const LatenessAssessment a = d.Assess();
  // The imbalance window's ranks lost under 10% of their compute (the engine's threshold).
  EXPECT_LT(a.lost_fraction, 0.1) << a.evidence;
}

TEST(LatenessTest, BackToBackCallsSayNothingAboutCompute) {
  LatenessDetector d;
  for (auto& t : Trace(4, 30, -1, 0, 7)) {
    d.Add(t);
    // A norm gathered right after: 50 us of compute, and rank 2 descheduled for 3 ms.
    CollectiveTiming next{t.seq * 1000, {3500, 3500, 500, 3500}, {50, 50, 50, 50}};
    d.Add(next);
  }
  const LatenessAssessment a = d.Assess();
  EXPECT_EQ(a.kind, LatenessKind::kNone) << a.evidence;
  EXPECT_EQ(a.collectives, 20u) << "only the compute-bearing collectives fill the window";
}

TEST(LatenessTest, NoiseAloneAndShortWindowsSayNothing) {
  LatenessDetector quiet;
  for (auto& t : Trace(8, 40, -1, 0, 3)) quiet.Add(t);  // 1% noise: waits under 5% of compute
  EXPECT_EQ(quiet.Assess().kind, LatenessKind::kNone);
  LatenessDetector early;
  for (auto& t : Trace(8, 5, 2, 0.5, 4)) early.Add(t);
  EXPECT_EQ(early.Assess().kind, LatenessKind::kNone);  // not enough collectives yet
}

TEST(LatenessTest, ARebuiltCommunicatorStartsOver) {
  LatenessDetector d;
  for (auto& t : Trace(8, 20, 5, 0.5, 5)) d.Add(t);
  for (auto& t : Trace(4, 3, 1, 0.5, 6)) d.Add(t);  // the job restarted on 4 ranks
  EXPECT_EQ(d.Assess().kind, LatenessKind::kNone);
}

}  // namespace
}  // namespace bulwark::diagnostics
