// Training anomalies: the pure detector and skip plan, and the trainer rolling back from a
// poisoned batch (in one process) to the digest of a run that never saw the batch.
#include "trainer/anomaly.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "trainer/trainer.h"

namespace bulwark::train {
namespace {

TEST(AnomalyDetectorTest, NonFiniteNumbersAreAlwaysAnomalies) {
  AnomalyDetector d(AnomalyPolicy{});  // spikes off
  EXPECT_FALSE(d.Check(1, 4.0, 1.0));
  const auto nan = d.Check(1, std::nan(""), 1.0);
  ASSERT_TRUE(nan);
  EXPECT_EQ(nan->kind, "nan");
  const auto inf = d.Check(1, 4.0, std::numeric_limits<double>::infinity());
  ASSERT_TRUE(inf);
  EXPECT_EQ(inf->kind, "nan");
  for (int s = 1; s <= 30; ++s) d.Accept(s, 1.0);
  EXPECT_FALSE(d.Check(31, 1000.0, 1.0)) << "spikes are off with a factor of 0";
}

TEST(AnomalyDetectorTest, ASpikeIsJudgedAgainstTheMedianOfRecentAcceptedSteps) {
  AnomalyDetector d(AnomalyPolicy{3.0, 20, 5});
  for (int s = 1; s <= 4; ++s) d.Accept(s, 2.0);
  EXPECT_FALSE(d.Check(5, 100.0, 1.0)) << "too little history to judge";
  d.Accept(5, 2.0);
  EXPECT_FALSE(d.Check(6, 6.0, 1.0)) << "3x the median is not above it";
  const auto spike = d.Check(6, 6.1, 1.0);
  ASSERT_TRUE(spike);
  EXPECT_EQ(spike->kind, "loss_spike");
  EXPECT_EQ(spike->step, 6);
  EXPECT_DOUBLE_EQ(spike->median_loss, 2.0);
  // Five steps at 10: the median of the ten is 10.
  for (int s = 6; s <= 10; ++s) d.Accept(s, 10.0);
  EXPECT_FALSE(d.Check(11, 25.0, 1.0));
  // Rolled back to step 5: the steps to be replayed are forgotten, the rest kept.
  d.ForgetAfter(5);
  const auto after = d.Check(6, 25.0, 1.0);
  ASSERT_TRUE(after);
  EXPECT_DOUBLE_EQ(after->median_loss, 2.0);
  // The window keeps the last 20 accepted steps only.
  for (int s = 6; s <= 25; ++s) d.Accept(s, 10.0);
  EXPECT_FALSE(d.Check(26, 25.0, 1.0));
}

TEST(AnomalyDetectorTest, BatchesToSkipEscalateWhenTheAnomalyComesBack) {
  EXPECT_EQ(BatchesToSkip(7, 6, false), std::vector<int64_t>{7});
  EXPECT_EQ(BatchesToSkip(8, 6, true), (std::vector<int64_t>{6, 7, 8}));
  EXPECT_EQ(BatchesToSkip(8, std::nullopt, true), std::vector<int64_t>{8}) << "no snapshot: nothing to go back to";
}

TrainConfig TinyWith(std::vector<FaultPoint> faults) {
  auto c = LoadTrainConfigFile(std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  c->faults = std::move(faults);
  return c.value();
}

FaultPoint Poison(FaultKind kind, int64_t batch) {
  FaultPoint p;
  p.kind = kind;
  p.step = batch;
  return p;
}

// Trains to `steps` the way bulwark-train does: snapshot every `every` steps (0: none),
// roll back on an anomaly. Returns the final digest; `rollbacks` gets what each did.
uint64_t Train(const TrainConfig& config, int64_t steps, int every, std::vector<int64_t> skip,
               std::vector<Trainer::Rollback>* rollbacks, double spike_factor = 0) {
  SoloComm comm;
  auto t = Trainer::Create(config, comm);
  EXPECT_TRUE(t.ok());
  Trainer& trainer = *t.value();
  trainer.set_anomaly_policy(AnomalyPolicy{spike_factor, 20, 5});
  trainer.SkipBatches(skip);
  const std::string prefix = "bw-anomaly-test-" + std::to_string(::getpid());
  std::unique_ptr<snapshot::SnapshotClient> snapshots;
  if (every > 0) {
    auto opened = snapshot::SnapshotClient::Open(prefix, "job", 0, 1);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    snapshots = std::move(opened).value();
    snapshots->Discard();
  }
  uint64_t digest = 0;
  while (trainer.step() < steps) {
    StepReport r = trainer.Step();
    if (r.anomaly) {
      if (rollbacks) rollbacks->push_back(trainer.RollBack(r, snapshots.get()));
      continue;
    }
    digest = r.digest;
    if (every > 0 && r.step % every == 0) {
      EXPECT_TRUE(trainer.SnapshotState(*snapshots).ok());
    }
  }
  if (every > 0) snapshot::SnapshotClient::Remove(prefix, "job", 0);
  return digest;
}

TEST(TrainerAnomalyTest, ANanBatchRollsBackToTheSnapshotAndIsSkipped) {
  const uint64_t reference = Train(TinyWith({}), 12, 0, {7}, nullptr);
  std::vector<Trainer::Rollback> rollbacks;
  const uint64_t digest = Train(TinyWith({Poison(FaultKind::kNan, 7)}), 12, 5, {}, &rollbacks);
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_TRUE(rollbacks[0].from_snapshot);
  EXPECT_EQ(rollbacks[0].to_step, 5);
  EXPECT_EQ(rollbacks[0].skipped, std::vector<int64_t>{7});
  EXPECT_EQ(digest, reference) << "equal to a run that never trained on batch 7";
  EXPECT_NE(digest, Train(TinyWith({}), 12, 0, {}, nullptr)) << "the batch mattered";
}

TEST(TrainerAnomalyTest, WithoutASnapshotTheStateBeforeTheStepIsKept) {
  const uint64_t reference = Train(TinyWith({}), 12, 0, {7}, nullptr);
  std::vector<Trainer::Rollback> rollbacks;
  const uint64_t digest = Train(TinyWith({Poison(FaultKind::kNan, 7)}), 12, 0, {}, &rollbacks);
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_FALSE(rollbacks[0].from_snapshot);
  EXPECT_EQ(rollbacks[0].to_step, 6);
  EXPECT_EQ(digest, reference);
}

TEST(TrainerAnomalyTest, ALossSpikeNeedsTheFactorAndAReturningOneSkipsSinceTheSnapshot) {
  // A spike on batch 9 is trained on when spikes are off...
  const TrainConfig spiky = TinyWith({Poison(FaultKind::kSpike, 9), Poison(FaultKind::kSpike, 10)});
  std::vector<Trainer::Rollback> none;
  Train(spiky, 12, 5, {}, &none);
  EXPECT_TRUE(none.empty());
  // ...and rolled back from with a factor. Batch 10 spikes too: the step after the first
  // rollback fails again, so every batch since the snapshot (6..10) is skipped.
  std::vector<Trainer::Rollback> rollbacks;
  const uint64_t digest = Train(spiky, 12, 5, {}, &rollbacks, 3.0);
  ASSERT_EQ(rollbacks.size(), 2u);
  EXPECT_EQ(rollbacks[0].skipped, std::vector<int64_t>{9});
  EXPECT_EQ(rollbacks[1].skipped, (std::vector<int64_t>{6, 7, 8, 10}));
  EXPECT_EQ(rollbacks[1].to_step, 5);
  EXPECT_EQ(digest, Train(TinyWith({}), 12, 0, {6, 7, 8, 9, 10}, nullptr));
}

}  // namespace
}  // namespace bulwark::train
