// The dashboard's embedded files as the controller serves them, and the controller's
// metrics rendered from a real cluster model (the e2e test runs promtool on both).
#include "controller/dashboard.h"

#include <gtest/gtest.h>

#include "controller/metrics.h"
#include "controller/state_store.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

TEST(DashboardTest, ThePageAndItsModulesAreServedWithTheirTypes) {
  for (const char* path : {"/", "/ui", "/ui/"}) {
    auto page = DashboardResponse(path);
    ASSERT_TRUE(page) << path;
    EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
    EXPECT_NE(page->body.find("<script type=\"module\" src=\"/ui/app.js\">"), std::string::npos);
  }
  for (const char* module : {"app.js", "api.js", "views.js", "plots.js"}) {
    auto js = DashboardResponse(std::string("/ui/") + module);
    ASSERT_TRUE(js) << module;
    EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
    EXPECT_GT(js->body.size(), 500u) << module << " is embedded whole";
  }
  EXPECT_EQ(DashboardResponse("/ui/dashboard.css")->content_type, "text/css; charset=utf-8");
}

TEST(DashboardTest, OtherPathsAreNotTheDashboards) {
  EXPECT_FALSE(DashboardResponse("/ui/missing.js"));
  EXPECT_FALSE(DashboardResponse("/ui/../controller.yaml"));
  EXPECT_FALSE(DashboardResponse("/v1/cluster"));
  EXPECT_FALSE(DashboardResponse("/metrics"));
}

TEST(ControllerMetricsTest, NodesJobsAndRecoveryPointsAreRendered) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  ClusterOptions options;
  Cluster cluster(store->get(), options, "i1");
  cluster.Load(0);
  NodeInfo info;
  info.name = "n1";
  info.role = "worker";
  cluster.Register(info, 1000, 1000);
  SnapshotCatalog snapshots(2, 1);
  ControllerMetrics metrics;
  metrics.ObserveRequest("/v1/cluster", 200, 0.002);
  const std::string text = metrics.Render(cluster, snapshots, 1000, 3);
  EXPECT_NE(text.find("bulwark_nodes{health=\"healthy\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("bulwark_http_requests_total{code=\"200\",route=\"/v1/cluster\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP bulwark_http_open_connections"), std::string::npos) << text;
  EXPECT_NE(text.find("bulwark_http_open_connections 3"), std::string::npos) << text;
  EXPECT_EQ(text.find("bulwark_recovery_phase_duration_seconds_count"), std::string::npos) << "no recovery yet";
}

}  // namespace
}  // namespace bulwark::controller
