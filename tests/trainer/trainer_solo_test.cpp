// The training loop in one process (world of one): learning, state save/restore, checks.
#include "trainer/trainer.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace bulwark::train {
namespace {

TrainConfig Tiny() {
  auto c = LoadTrainConfigFile(std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.value();
}

TEST(TrainerSoloTest, LossFallsWellBelowUniform) {
  SoloComm comm;
  auto t = Trainer::Create(Tiny(), comm);
  ASSERT_TRUE(t.ok()) << t.status().message();
  double first = 0, last = 0;
  for (int i = 0; i < 150; ++i) {
    StepReport r = t.value()->Step();
    if (i < 5) first += r.loss / 5;
    if (i >= 140) last += r.loss / 10;
  }
  EXPECT_NEAR(first, std::log(128.0), 0.3);  // starts at chance
  EXPECT_LT(last, first - 1.5);
}

TEST(TrainerSoloTest, ResumeFromSavedStateIsBitIdentical) {
  SoloComm comm;
  const std::string path = bulwark::testing::UniqueTempDir() + "/rank-0.state";
  auto straight = Trainer::Create(Tiny(), comm);
  std::vector<uint64_t> expected;
  for (int i = 1; i <= 12; ++i) {
    StepReport r = straight.value()->Step();
    if (i == 5) {
      ASSERT_TRUE(straight.value()->SaveState(path).ok());
    }
    if (i > 5) expected.push_back(r.digest);
  }
  auto resumed = Trainer::Create(Tiny(), comm);
  ASSERT_TRUE(resumed.value()->LoadState(path).ok());
  EXPECT_EQ(resumed.value()->step(), 5);
  for (uint64_t want : expected) EXPECT_EQ(resumed.value()->Step().digest, want);
}

// A trainer created to be restored skips drawing the weights: the restore fills every one
// (the same steps follow), and one whose restore failed draws them then, as if fresh.
TEST(TrainerSoloTest, ATrainerCreatedForARestoreNeedsNoInitialWeights) {
  SoloComm comm;
  const std::string path = bulwark::testing::UniqueTempDir() + "/rank-0.state";
  auto straight = Trainer::Create(Tiny(), comm);
  const uint64_t initial = straight.value()->ParameterDigest();
  for (int i = 1; i <= 3; ++i) straight.value()->Step();
  ASSERT_TRUE(straight.value()->SaveState(path).ok());
  const uint64_t after_four = straight.value()->Step().digest;

  auto restored = Trainer::Create(Tiny(), comm, /*initialize=*/false);
  EXPECT_NE(restored.value()->ParameterDigest(), initial) << "nothing drawn yet";
  ASSERT_TRUE(restored.value()->LoadState(path).ok());
  EXPECT_EQ(restored.value()->Step().digest, after_four);

  auto failed = Trainer::Create(Tiny(), comm, /*initialize=*/false);
  ASSERT_FALSE(failed.value()->LoadState(path + ".missing").ok());
  failed.value()->InitializeWeights();
  EXPECT_EQ(failed.value()->ParameterDigest(), initial);
}

// Such a trainer reads a restore in place (no copies); when the state is refused after it
// was read (another run's), the moments it brought are cleared: drawing the weights then
// gives exactly a fresh run's steps.
TEST(TrainerSoloTest, ARefusedInPlaceRestoreLeavesAFreshStart) {
  SoloComm comm;
  const std::string path = bulwark::testing::UniqueTempDir() + "/rank-0.state";
  TrainConfig other = Tiny();
  other.optim.lr *= 2;  // same shapes, different run: readable, then refused
  auto elsewhere = Trainer::Create(other, comm);
  for (int i = 1; i <= 3; ++i) elsewhere.value()->Step();
  ASSERT_TRUE(elsewhere.value()->SaveState(path).ok());

  auto fresh = Trainer::Create(Tiny(), comm);
  std::vector<uint64_t> fresh_steps;
  for (int i = 1; i <= 3; ++i) fresh_steps.push_back(fresh.value()->Step().digest);

  auto refused = Trainer::Create(Tiny(), comm, /*initialize=*/false);
  Status s = refused.value()->LoadState(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("config fingerprint"), std::string::npos) << s.message();
  refused.value()->InitializeWeights();
  EXPECT_EQ(refused.value()->step(), 0);
  for (uint64_t want : fresh_steps) EXPECT_EQ(refused.value()->Step().digest, want);
}

TEST(TrainerSoloTest, StateWithAnotherFingerprintIsRefusedAndNothingChanges) {
  SoloComm comm;
  const std::string path = bulwark::testing::UniqueTempDir() + "/rank-0.state";
  auto a = Trainer::Create(Tiny(), comm);
  a.value()->Step();
  ASSERT_TRUE(a.value()->SaveState(path).ok());

  TrainConfig other = Tiny();
  other.optim.lr *= 2;  // same shapes, different run
  auto b = Trainer::Create(other, comm);
  const uint64_t before = b.value()->ParameterDigest();
  Status s = b.value()->LoadState(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("config fingerprint"), std::string::npos) << s.message();
  EXPECT_EQ(b.value()->ParameterDigest(), before);
  EXPECT_EQ(b.value()->step(), 0);
}

TEST(TrainerSoloTest, StateRangesNameTheWholeRankState) {
  SoloComm comm;
  auto t = Trainer::Create(Tiny(), comm);
  auto ranges = t.value()->StateRanges();
  ASSERT_EQ(ranges.size(), 4u);
  EXPECT_EQ(ranges[0].name, "meta");
  EXPECT_EQ(ranges[1].name, "master_weights");
  EXPECT_EQ(ranges[1].bytes, t.value()->parameter_count() * sizeof(float));
  EXPECT_EQ(ranges[2].name, "adam_m");
  EXPECT_EQ(ranges[3].name, "adam_v");
}

TEST(TrainerSoloTest, FaultForRankOutsideTheWorldIsAnError) {
  SoloComm comm;
  TrainConfig c = Tiny();
  c.faults.push_back({FaultKind::kCrash, 3, 2, 0, ""});
  auto t = Trainer::Create(c, comm);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("faults[0].rank 2 is outside the world of 1 ranks"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::train
