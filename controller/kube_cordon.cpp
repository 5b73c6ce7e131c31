#include "controller/kube_cordon.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/http_client.h"

namespace bulwark::controller {

Result<std::string> KubeApiServer(const KubeOptions& options, const char* service_host, const char* service_port) {
  if (!options.api_server.empty()) return options.api_server;
  if (!service_host || !*service_host) {
    return Status::Error("kubernetes.cordon is on but kubernetes.api_server is not set and KUBERNETES_SERVICE_HOST is "
                         "not in the environment (not running in a pod)");
  }
  std::string host = service_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 service address
  return "https://" + host + ":" + (service_port && *service_port ? service_port : "443");
}

std::string CordonPatch(bool unschedulable) {
  // Uncordoning sends null: the merge patch removes the field, leaving the default (schedulable).
  return nlohmann::json{{"spec", {{"unschedulable", unschedulable ? nlohmann::json(true) : nlohmann::json()}}}}.dump();
}

Status SetUnschedulable(const KubeOptions& options, const std::string& api_server, const std::string& node,
                        bool unschedulable) {
  std::ifstream in(options.token_file);
  std::stringstream token;
  token << in.rdbuf();
  std::string bearer = token.str();
  while (!bearer.empty() && (bearer.back() == '\n' || bearer.back() == '\r' || bearer.back() == ' ')) bearer.pop_back();
  if (!in || bearer.empty()) return Status::Error("cannot read the service account token " + options.token_file);
  http::Client client(api_server, bearer, static_cast<long>(options.timeout_ms));
  if (!options.ca_file.empty()) client.set_ca_file(options.ca_file);
  client.set_content_type("application/merge-patch+json");
  const std::string what = std::string(unschedulable ? "cordon" : "uncordon") + " node " + node;
  auto r = client.Send("PATCH", "/api/v1/nodes/" + http::UrlEncode(node), CordonPatch(unschedulable));
  if (!r.ok()) return Status::Error(what + ": " + r.status().message());
  if (r->status / 100 != 2) {
    // The API server answers with a Status object; its message says why (forbidden, not found).
    const auto body = nlohmann::json::parse(r->body, nullptr, false);
    const std::string why = body.is_object() ? body.value("message", r->body) : r->body;
    return Status::Error(what + ": the API server answered " + std::to_string(r->status) + ": " + why);
  }
  return Status::Ok();
}

KubeCordoner::KubeCordoner(KubeOptions options, std::string api_server, Done done)
    : options_(std::move(options)), api_server_(std::move(api_server)), done_(std::move(done)), worker_([this] { Run(); }) {}

KubeCordoner::~KubeCordoner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void KubeCordoner::Request(const std::string& node, bool unschedulable) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(node, unschedulable);
  }
  wake_.notify_all();
}

void KubeCordoner::Run() {
  for (;;) {
    std::pair<std::string, bool> next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    const Status outcome = SetUnschedulable(options_, api_server_, next.first, next.second);
    done_(next.first, next.second, outcome);
  }
}

}  // namespace bulwark::controller
