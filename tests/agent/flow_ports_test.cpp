// The agent's copy of its flows' source ports: written whole, a newer plan replaces an older
// one, a late older one is ignored, and a job name that would leave the directory is refused.
#include "agent/flow_ports.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;

json Args(int generation, int attempt = 1) {
  return {{"job", "job-000001"},
          {"attempt", attempt},
          {"generation", generation},
          {"flows", {{{"src", "node-01/eth0"}, {"dst", "node-02/eth0"}, {"channel", 0},
                      {"paths", {{{"spine", "spine-1"}, {"fraction", 1.0}, {"src_port", 49200 + generation}}}}}}}};
}

json Held(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

TEST(FlowPortsTest, ANewerPlanReplacesTheFileAndALateOlderOneIsIgnored) {
  const std::string dir = bulwark::testing::UniqueTempDir();
  auto first = StoreFlowPorts(dir, Args(2));
  ASSERT_TRUE(first.ok()) << first.status().message();
  const std::string path = (*first)["path"];
  EXPECT_EQ(path, dir + "/flow-ports/job-000001.json");
  EXPECT_EQ(Held(path)["flows"][0]["paths"][0]["src_port"], 49202);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp")) << "written aside, then renamed";

  auto late = StoreFlowPorts(dir, Args(1));
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->contains("ignored"));
  EXPECT_EQ(Held(path)["generation"], 2) << "the older plan did not replace the newer";

  ASSERT_TRUE(StoreFlowPorts(dir, Args(3)).ok());
  EXPECT_EQ(Held(path)["generation"], 3);
  ASSERT_TRUE(StoreFlowPorts(dir, Args(1, 2)).ok()) << "a relaunch starts its own plans";
  EXPECT_EQ(Held(path)["attempt"], 2);
}

TEST(FlowPortsTest, AJobNameThatLeavesTheDirectoryIsRefused) {
  const std::string dir = bulwark::testing::UniqueTempDir();
  json args = Args(1);
  args["job"] = "../../etc/passwd";
  auto r = StoreFlowPorts(dir, args);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not a plain name"), std::string::npos) << r.status().message();
  args["job"] = ".hidden";
  EXPECT_FALSE(StoreFlowPorts(dir, args).ok());
  args = Args(1);
  args["flows"] = "many";
  EXPECT_FALSE(StoreFlowPorts(dir, args).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/flow-ports/job-000001.json"));
}

}  // namespace
}  // namespace bulwark::agent
