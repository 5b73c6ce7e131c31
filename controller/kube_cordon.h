// Cordons a fenced node in Kubernetes, as `kubectl cordon` does: a JSON merge patch of
// spec.unschedulable on /api/v1/nodes/NAME, sent with the controller pod's service account
// (its token, read on every call because projected tokens rotate, and its CA). The
// scheduler then places no new pod there; Bulwark's own fence holds its jobs off already.
// Readmitting the node uncordons it. The Bulwark node name is the Kubernetes node name
// (the Helm chart sets the agent's node.name from spec.nodeName).
//
// KubeCordoner runs the calls on its own thread, in order, so the controller's event loop
// never waits on the API server; each outcome comes back through `done`.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace bulwark::controller {

struct KubeOptions {
  bool cordon = false;     // off unless configured: most local and bare-metal clusters have no API server
  std::string api_server;  // "": https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (in a pod)
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";  // "": the system's CAs
  int64_t timeout_ms = 5000;
};

// The API server's base URL: the configured one, else the in-cluster service environment.
Result<std::string> KubeApiServer(const KubeOptions& options, const char* service_host, const char* service_port);

// The merge patch that cordons (true) or uncordons (false) a node.
std::string CordonPatch(bool unschedulable);

// One blocking PATCH. The error names the node and what the API server said.
Status SetUnschedulable(const KubeOptions& options, const std::string& api_server, const std::string& node,
                        bool unschedulable);

class KubeCordoner {
 public:
  using Done = std::function<void(const std::string& node, bool unschedulable, const Status& outcome)>;
  KubeCordoner(KubeOptions options, std::string api_server, Done done);
  ~KubeCordoner();  // finishes the call in flight, drops the rest

  void Request(const std::string& node, bool unschedulable);

 private:
  void Run();

  KubeOptions options_;
  std::string api_server_;
  Done done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, bool>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace bulwark::controller
