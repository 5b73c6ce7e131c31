// The mpirun command line of a job launch: one block per node with that node's contract.
#include "controller/launch_command.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bulwark::controller {
namespace {

NodeInfo Node(const std::string& name) {
  NodeInfo n;
  n.name = name;
  n.agent_url = "http://127.0.0.1:1/" + name;
  n.shm_prefix = "/bulwark-" + name;
  n.hook_socket = "@hooks-" + name;
  return n;
}

JobRecord Job() {
  JobRecord job;
  job.id = "job-000007";
  job.attempt = 3;
  job.spec.name = "train";
  job.spec.command = {"/opt/train", "--steps", "100"};
  job.spec.ranks_per_node = 2;
  job.spec.snapshot_every_steps = 5;
  job.spec.env = {{"OMP_NUM_THREADS", "1"}, {"BULWARK_NODE", "not-this"}};
  return job;
}

TEST(LaunchCommandTest, OneBlockPerNodeWithItsEnvironment) {
  LaunchSettings s{"/bin/bulwark-mpirun", "/bin/bulwark-launch-local", "/lib/libbulwark-pmpi.so", {"--bind-to", "none"}};
  const auto argv = BuildLaunchArgv(s, Job(), {Node("n1"), Node("n2")}, 41);
  const std::vector<std::string> head = {"/bin/bulwark-mpirun", "--mca", "plm_rsh_agent", "/bin/bulwark-launch-local",
                                         "--bind-to", "none", "-np", "2", "--host", "n1:2", "env"};
  ASSERT_GE(argv.size(), head.size());
  EXPECT_TRUE(std::equal(head.begin(), head.end(), argv.begin()));
  auto colon = std::find(argv.begin(), argv.end(), ":");
  ASSERT_NE(colon, argv.end());
  const std::vector<std::string> first(argv.begin(), colon), second(colon + 1, argv.end());
  auto has = [](const std::vector<std::string>& block, const std::string& s) {
    return std::find(block.begin(), block.end(), s) != block.end();
  };
  for (const char* want : {"BULWARK_JOB_ID=job-000007", "BULWARK_ATTEMPT=3", "BULWARK_NODE=n1",
                           "BULWARK_AGENT_URL=http://127.0.0.1:1/n1", "BULWARK_AGENT_SOCKET=@hooks-n1",
                           "BULWARK_SNAPSHOT_PREFIX=bulwark-n1", "BULWARK_SNAPSHOT_EVERY=5", "BULWARK_RESTORE_STEP=41",
                           "LD_PRELOAD=/lib/libbulwark-pmpi.so", "OMP_NUM_THREADS=1"}) {
    EXPECT_TRUE(has(first, want)) << want;
  }
  EXPECT_FALSE(has(first, "BULWARK_NODE=not-this")) << "the contract wins over the job's own env";
  EXPECT_TRUE(has(second, "--host"));
  EXPECT_TRUE(has(second, "n2:2"));
  EXPECT_TRUE(has(second, "BULWARK_NODE=n2"));
  EXPECT_EQ(std::vector<std::string>(second.end() - 3, second.end()), Job().spec.command);
}

TEST(LaunchCommandTest, AFirstLaunchRestoresNothingAndSshIsTheDefault) {
  JobRecord job = Job();
  job.spec.env["BULWARK_RESTORE_STEP"] = "9";  // a job cannot make its first launch restore
  const auto env = RankEnvironment(LaunchSettings{}, job, Node("n1"), std::nullopt);
  EXPECT_EQ(env.count("BULWARK_RESTORE_STEP"), 0u);
  EXPECT_EQ(env.count("LD_PRELOAD"), 0u);
  const auto argv = BuildLaunchArgv(LaunchSettings{}, job, {Node("n1")}, std::nullopt);
  EXPECT_EQ(argv[0], "mpirun");
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "plm_rsh_agent"), argv.end());
}

}  // namespace
}  // namespace bulwark::controller
