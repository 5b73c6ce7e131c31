// The MPI self-check's pure parts: the known answer and the report the agent reads back.
#include <gtest/gtest.h>

#include "diagnostics/mpi_check.h"

namespace bulwark::diagnostics {
namespace {

TEST(MpiCheckTest, TheKnownAnswerIsTheSumOfTheInputs) {
  for (int ranks : {2, 3, 8, 1000}) {
    for (size_t i : {size_t{0}, size_t{1}, size_t{1023}, size_t{1024}, size_t{262143}}) {
      double sum = 0;
      for (int r = 0; r < ranks; ++r) sum += MpiCheckInput(r, i);
      EXPECT_EQ(sum, MpiCheckExpectedSum(ranks, i)) << ranks << " ranks, element " << i;
    }
  }
  EXPECT_NE(MpiCheckInput(0, 5), MpiCheckInput(1, 5)) << "ranks contribute different values";
}

TEST(MpiCheckTest, ReadsTheLastReportLineAmongLauncherChatter) {
  const std::string out =
      "--------------------------------------------------\n"
      "WARNING: a launcher warning {not json\n"
      "{\"allreduce_ok\":true,\"allreduce_us\":467.2,\"latency_us\":1.3,\"mbps\":15450.5,\"ranks\":2,"
      "\"worst_peer\":\"rank 1 on vm\"}\n";
  auto r = ParseMpiCheckReport(out);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ranks, 2);
  EXPECT_DOUBLE_EQ(r->mbps, 15450.5);
  EXPECT_DOUBLE_EQ(r->latency_us, 1.3);
  EXPECT_TRUE(r->allreduce_ok);
  EXPECT_EQ(r->worst_peer, "rank 1 on vm");
  EXPECT_TRUE(r->error.empty());

  auto failed = ParseMpiCheckReport("{\"ranks\":1,\"error\":\"needs at least 2 ranks\"}");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->error, "needs at least 2 ranks");
}

TEST(MpiCheckTest, NoReportOrABrokenOneIsAnErrorQuotingTheOutput) {
  auto none = ParseMpiCheckReport("mpirun was unable to launch the specified application\n");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("printed no report"), std::string::npos);
  EXPECT_NE(none.status().message().find("unable to launch"), std::string::npos) << none.status().message();

  auto truncated = ParseMpiCheckReport("{\"ranks\":2,\"latency_us\":1.3,\"mb");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("malformed"), std::string::npos) << truncated.status().message();

  auto missing = ParseMpiCheckReport("{\"ranks\":2,\"latency_us\":1.3}");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("lacks a field"), std::string::npos) << missing.status().message();

  EXPECT_FALSE(ParseMpiCheckReport("").ok());
}

}  // namespace
}  // namespace bulwark::diagnostics
