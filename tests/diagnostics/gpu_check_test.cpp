// The GPU self-check's judgement and the report a check program prints.
#include <gtest/gtest.h>

#include "diagnostics/gpu_check.h"

namespace bulwark::diagnostics {
namespace {

GpuDeviceResult Good(int index, double gbps) {
  GpuDeviceResult d;
  d.index = index;
  d.name = "H100";
  d.ok = true;
  d.h2d_gbps = gbps;
  return d;
}

TEST(GpuCheckTest, AllExpectedDevicesGoodPassWithTheSlowestRate) {
  const auto r = JudgeGpus(2, {Good(0, 24.5), Good(1, 12.0)});
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.skipped);
  EXPECT_DOUBLE_EQ(r.value, 12.0);
  EXPECT_EQ(r.unit, "GB/s");
  EXPECT_NE(r.detail.find("2 GPUs"), std::string::npos) << r.detail;
}

TEST(GpuCheckTest, AMissingDeviceOrABadOneFails) {
  const auto missing = JudgeGpus(8, {Good(0, 24), Good(1, 24)});
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.detail.find("sees 2 of the 8 GPUs"), std::string::npos) << missing.detail;

  GpuDeviceResult bad = Good(1, 0);
  bad.ok = false;
  bad.error = "CUDA error 999";
  const auto failed = JudgeGpus(2, {Good(0, 24), bad});
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.detail, "GPU 1 (H100): CUDA error 999");
  EXPECT_TRUE(failed.unit.empty()) << "a failed check records no rate against the baseline";
}

TEST(GpuCheckTest, BusyGpusAreCountedButNotChecked) {
  GpuDeviceResult busy;
  busy.index = 1;
  busy.busy = true;
  const auto r = JudgeGpus(2, {Good(0, 20), busy});
  EXPECT_TRUE(r.ok);
  EXPECT_NE(r.detail.find("not checked: GPU 1"), std::string::npos) << r.detail;
  EXPECT_DOUBLE_EQ(r.value, 20);
  busy.index = 0;
  const auto all_busy = JudgeGpus(1, {busy});
  EXPECT_TRUE(all_busy.ok);
  EXPECT_TRUE(all_busy.unit.empty()) << "no rate measured, none compared";
}

TEST(GpuCheckTest, NoGpusIsSkippedOnlyWhereNoneAreExpected) {
  EXPECT_TRUE(JudgeGpus(0, {}).skipped);
  EXPECT_TRUE(JudgeGpus(0, {}).ok);
  EXPECT_FALSE(JudgeGpus(4, {}).ok);
  EXPECT_TRUE(NoDriver(0, "no driver").skipped);
  const auto expected = NoDriver(4, "the CUDA driver cannot be loaded");
  EXPECT_FALSE(expected.ok);
  EXPECT_FALSE(expected.skipped);
  EXPECT_NE(expected.detail.find("should have 4 GPUs"), std::string::npos);
}

TEST(GpuCheckTest, ReportsRoundTripAndBrokenOnesAreErrors) {
  CheckReport r;
  r.ok = true;
  r.detail = "fine";
  r.value = 3.5;
  r.unit = "GB/s";
  auto back = ParseCheckReport("driver chatter\n" + ToJsonLine(r) + "\n");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->detail, "fine");
  EXPECT_DOUBLE_EQ(back->value, 3.5);
  EXPECT_EQ(back->unit, "GB/s");

  EXPECT_FALSE(ParseCheckReport("Segmentation fault\n").ok());
  auto malformed = ParseCheckReport("{\"ok\":\"yes\",\"detail\":\"x\"}");
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.status().message().find("malformed"), std::string::npos);
  EXPECT_FALSE(ParseCheckReport("{\"ok\":true,\"det").ok());
}

}  // namespace
}  // namespace bulwark::diagnostics
