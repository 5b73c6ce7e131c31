// The REST API under /v1, plus /metrics, /healthz and /readyz: routing, authentication,
// JSON in and out, and the long-polls (agents waiting for commands or for a job's snapshot
// epoch, operators following events). It turns HTTP into calls on Cluster and the snapshot
// catalog, and their answers and errors into HTTP.
//
// Who may call what:
//   /healthz, /readyz                   anyone (probes)
//   /v1/agents/...                      the agent join token
//   other GETs, /metrics                the operator token, or anyone when open_reads
//   POST/DELETE outside /v1/agents      the operator token
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/http_server.h"
#include "controller/cluster.h"
#include "controller/injections.h"
#include "controller/metrics.h"
#include "controller/snapshot_catalog.h"
#include "controller/traffic_plans.h"

namespace boost::asio {
class io_context;
}

namespace bulwark::controller {

struct ApiOptions {
  std::string agent_token;
  std::string operator_token;
  bool open_reads = false;
  int64_t long_poll_max_ms = 30000;
  int snapshot_k = 4, snapshot_m = 2;  // the code of jobs that were not submitted with their own
  std::string data_dir{};               // the database's directory: where fill-disk fills
  std::optional<netplan::Topology> topology{};  // the fabric jobs' traffic is planned on (none: not planned)
};

class Api {
 public:
  Api(Cluster* cluster, boost::asio::io_context* io, ApiOptions options, ControllerMetrics* metrics,
      std::function<size_t()> open_connections);
  ~Api();

  void Handle(http::Request request, http::Respond respond);
  void set_ready(bool ready) { ready_ = ready; }
  // What runs on a clock rather than on a request (injections' durations). Call it a few
  // times a second.
  void Tick(int64_t now_wall_ms) { injections_.Tick(now_wall_ms); }

 private:
  struct Waiter;
  enum class Access { kOpen, kAgent, kRead, kOperator };

  // Returns the route template for metrics; answers through `respond` (maybe later).
  std::string Route(http::Request& request, const http::Respond& respond);
  bool Authorized(Access access, const std::string& token) const;
  http::Response CommandsAnswer(const std::string& node, uint64_t after) const;
  // The long-polls (commands of a node, events, a job's snapshots), each under a key:
  // answers at once when there is news (or no wait), else parks until Wake(key) or the
  // timeout, and then answers with what `answer` says at that moment.
  void Park(const std::string& key, bool news, int64_t wait_ms, http::Respond respond,
            std::function<http::Response()> answer);
  void Wake(const std::string& key);
  http::Response SnapshotsAnswer(const std::string& job) const;
  nlohmann::json ReportSnapshots(const std::string& node, const nlohmann::json& body);

  Cluster* cluster_;
  boost::asio::io_context* io_;
  ApiOptions options_;
  ControllerMetrics* metrics_;
  std::function<size_t()> open_connections_;
  bool ready_ = false;
  std::map<std::string, std::list<std::shared_ptr<Waiter>>> waiters_;  // by long-poll key
  SnapshotCatalog snapshots_;
  Injections injections_;
  TrafficPlans traffic_;
};

}  // namespace bulwark::controller
