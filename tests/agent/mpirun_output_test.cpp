// mpirun's report of the first rank to die: the launching agent's only witness to a rank
// that died before its hook registered.
#include "agent/mpirun_output.h"

#include <gtest/gtest.h>

namespace bulwark::agent {
namespace {

TEST(MpirunOutputTest, TheRankNodeAndSignalAreRead) {
  auto d = ParseMpirunRankDeath("mpirun noticed that process rank 2 with PID 24847 on node node-03 exited on signal 9 (Killed).");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rank, 2);
  EXPECT_EQ(d->pid, 24847);
  EXPECT_EQ(d->node, "node-03");
  EXPECT_EQ(d->signal, 9);
  d = ParseMpirunRankDeath("  mpirun noticed that process rank 0 with PID 7 on node spare-01 exited on signal 11 (Segmentation fault).\r");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->node, "spare-01");
  EXPECT_EQ(d->signal, 11);
}

TEST(MpirunOutputTest, OtherLinesAndMangledOnesAreNotDeaths) {
  EXPECT_FALSE(ParseMpirunRankDeath("{\"step\":3,\"loss\":4.1}"));
  EXPECT_FALSE(ParseMpirunRankDeath("Primary job  terminated normally, but 1 process returned"));
  EXPECT_FALSE(ParseMpirunRankDeath("mpirun noticed that process rank 2 with PID 24847 on node node-03 exited on"));
  EXPECT_FALSE(ParseMpirunRankDeath("mpirun noticed that process rank two with PID 1 on node n exited on signal 9"));
  EXPECT_FALSE(ParseMpirunRankDeath("mpirun noticed that process rank 1 with PID 1 on node n exited on signal 0"));
}

}  // namespace
}  // namespace bulwark::agent
