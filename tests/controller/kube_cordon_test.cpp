// Cordoning a fenced node: the API server's URL, the patch, and real PATCH requests to a
// local HTTP server standing in for the Kubernetes API server (token, media type, path,
// body), its refusal named, and the isolation hook of the cluster model that drives it.
#include "controller/kube_cordon.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "common/http_server.h"
#include "controller/cluster.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

TEST(KubeCordonTest, TheApiServerComesFromTheConfigOrThePodsEnvironment) {
  KubeOptions o;
  EXPECT_EQ(KubeApiServer(o, "10.96.0.1", "443").value(), "https://10.96.0.1:443");
  EXPECT_EQ(KubeApiServer(o, "fd00::1", "6443").value(), "https://[fd00::1]:6443");
  const auto missing = KubeApiServer(o, nullptr, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  o.api_server = "https://api.example:6443";
  EXPECT_EQ(KubeApiServer(o, nullptr, nullptr).value(), "https://api.example:6443");
}

TEST(KubeCordonTest, ThePatchSetsOrRemovesUnschedulable) {
  EXPECT_EQ(json::parse(CordonPatch(true)), json::parse(R"({"spec":{"unschedulable":true}})"));
  EXPECT_EQ(json::parse(CordonPatch(false)), json::parse(R"({"spec":{"unschedulable":null}})"));
}

// A stand-in API server: records each request, answers with `status` and `body`.
class FakeApiServer {
 public:
  FakeApiServer(int status, std::string body) {
    server_ = http::Server::Start(io_, {}, [this, status, body](http::Request req, http::Respond respond) {
                {
                  std::lock_guard<std::mutex> lock(mutex_);
                  requests_.push_back(req);
                }
                respond({status, body});
              }).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeApiServer() {
    io_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<http::Request> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<http::Request> requests_;
};

KubeOptions WithToken(const std::string& token) {
  KubeOptions o;
  o.cordon = true;
  o.token_file = bulwark::testing::UniqueTempDir() + "/token";
  std::ofstream(o.token_file) << token << "\n";
  o.ca_file = "";  // plain HTTP here
  return o;
}

TEST(KubeCordonTest, CordonAndUncordonAreMergePatchesWithTheServiceAccountToken) {
  FakeApiServer api(200, R"({"kind":"Node"})");
  const KubeOptions o = WithToken("sa-token-1");
  ASSERT_TRUE(SetUnschedulable(o, api.url(), "gpu-node-7", true).ok());
  ASSERT_TRUE(SetUnschedulable(o, api.url(), "gpu-node-7", false).ok());
  const auto requests = api.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].path, "/api/v1/nodes/gpu-node-7");
  EXPECT_EQ(requests[0].bearer_token, "sa-token-1") << "read from the file, newline trimmed";
  EXPECT_EQ(requests[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(json::parse(requests[0].body)["spec"]["unschedulable"], true);
  EXPECT_TRUE(json::parse(requests[1].body)["spec"]["unschedulable"].is_null());
}

TEST(KubeCordonTest, ARefusalNamesTheNodeAndTheApiServersMessage) {
  FakeApiServer api(403, R"({"kind":"Status","message":"nodes \"gpu-node-7\" is forbidden: User cannot patch"})");
  const Status s = SetUnschedulable(WithToken("t"), api.url(), "gpu-node-7", true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cordon node gpu-node-7: the API server answered 403: nodes \"gpu-node-7\" is forbidden"),
            std::string::npos)
      << s.message();
  KubeOptions no_token = WithToken("t");
  no_token.token_file += ".missing";
  const Status t = SetUnschedulable(no_token, api.url(), "gpu-node-7", true);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("service account token"), std::string::npos) << t.message();
}

TEST(KubeCordonTest, TheCordonerCallsInOrderOffTheCallersThread) {
  FakeApiServer api(200, "{}");
  std::promise<void> both;
  std::vector<std::pair<std::string, bool>> done;
  std::mutex mutex;
  {
    KubeCordoner cordoner(WithToken("t"), api.url(), [&](const std::string& node, bool unschedulable, const Status& s) {
      EXPECT_TRUE(s.ok()) << s.message();
      std::lock_guard<std::mutex> lock(mutex);
      done.emplace_back(node, unschedulable);
      if (done.size() == 2) both.set_value();
    });
    cordoner.Request("n2", true);
    cordoner.Request("n2", false);
    ASSERT_EQ(both.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(done, (std::vector<std::pair<std::string, bool>>{{"n2", true}, {"n2", false}}));
}

TEST(KubeCordonTest, TheClusterTellsWhenANodeIsFencedAndReadmitted) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  ClusterOptions options;
  Cluster c(store->get(), options, "i1");
  c.Load(0);
  std::vector<std::pair<std::string, bool>> fences;
  c.set_on_fence([&](const std::string& node, bool fenced) { fences.emplace_back(node, fenced); });
  NodeInfo info;
  info.name = "n2";
  info.role = "worker";
  c.Register(info, 1, 0);
  c.NodeAction("n2", NodeInput::kDrain, "maintenance", 2);
  EXPECT_TRUE(fences.empty()) << "a drain is not a fence";
  c.NodeAction("n2", NodeInput::kIsolate, "bad GPU", 3);
  c.NodeAction("n2", NodeInput::kIsolate, "again", 4);
  c.NodeAction("n2", NodeInput::kReadmit, "fixed", 5);
  EXPECT_EQ(fences, (std::vector<std::pair<std::string, bool>>{{"n2", true}, {"n2", false}}));
  c.RecordEvent({{"time_ms", 6}, {"kind", "node.cordoned"}, {"node", "n2"}});
  const json events = c.Events(0, 100);
  EXPECT_EQ(events.back()["kind"], "node.cordoned");
}

}  // namespace
}  // namespace bulwark::controller
