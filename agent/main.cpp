// bulwark-agent: the per-node daemon. Usage: bulwark-agent --config FILE [--check-config]
// (--check-config: read the config, say what is wrong with it, exit)
// Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad arguments or config, 3 token file
// unusable, 4 cannot listen.
#include <signal.h>

#include <boost/asio.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "agent/discovery.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/token.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int Run(int argc, char** argv) {
  using namespace bulwark;
  using namespace bulwark::agent;
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else {
      std::fprintf(stderr, "bulwark-agent: unknown argument '%s' (usage: --config FILE [--check-config])\n", arg.c_str());
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "bulwark-agent: --config FILE is required\n");
    return 2;
  }
  auto config = LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "bulwark-agent: %s\n", config.status().message().c_str());
    return 2;
  }
  if (check_only) {
    std::printf("bulwark-agent: %s is a valid config\n", config_path.c_str());
    return 0;
  }
  auto token = ReadTokenFile(config->token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "bulwark-agent: %s\n", token.status().message().c_str());
    return 3;
  }
  NodeInfo node = ApplyOverrides(DiscoverNode(config->sysfs_root, config->procfs_root), config->node);
  node.role = config->role;
  node.shm_prefix = config->shm_prefix.empty() ? "/bulwark-" + node.name : config->shm_prefix;
  node.agent_version = "0.1.0";

  // The agent's own small HTTP surface: /healthz, /metrics, and for the local ranks the
  // snapshot status and restore (which may fetch from peers: it runs off the io thread).
  boost::asio::io_context io(1);
  Agent* agent_ptr = nullptr;
  http::ServerOptions options;
  options.host = config->listen_host;
  options.port = config->listen_port;
  options.max_body_bytes = 64 << 10;
  auto server = http::Server::Start(io, options, [&](http::Request req, http::Respond respond) {
    if (req.path == "/healthz") {
      respond({200, std::string("{\"status\":\"ok\",\"registered\":") + (agent_ptr->registered() ? "true" : "false") + "}"});
    } else if (req.path == "/metrics") {
      respond({200, agent_ptr->MetricsText(), "text/plain; version=0.0.4"});
    } else if (req.path == "/v1/snapshots" && req.method == "GET") {
      respond({200, agent_ptr->snapshots()->StatusJson().dump()});
    } else if (req.path == "/v1/snapshots/restore" && req.method == "POST") {
      // The ranks of this node ask here; the bearer token is not needed on the node itself.
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.is_object() || !body.contains("job") || !body["job"].is_string() || !body.contains("rank") ||
          !body["rank"].is_number_integer()) {
        respond({400, "{\"error\":\"body must be {\\\"job\\\": string, \\\"rank\\\": integer}\"}"});
        return;
      }
      std::optional<uint64_t> step;
      if (body.contains("step") && body["step"].is_number_unsigned()) step = body["step"].get<uint64_t>();
      std::thread([&io, agent_ptr, respond, job = body["job"].get<std::string>(), rank = body["rank"].get<int>(), step] {
        auto result = agent_ptr->snapshots()->Restore(job, rank, step);
        http::Response response = result.ok() ? http::Response{200, result->dump()}
                                              : http::Response{409, nlohmann::json{{"error", result.status().message()}}.dump()};
        boost::asio::post(io, [respond, response] { respond(response); });
      }).detach();
    } else {
      respond({404, "{\"error\":\"no such endpoint: " + req.path + "\"}"});
    }
  });
  if (!server.ok()) {
    std::fprintf(stderr, "bulwark-agent: %s\n", server.status().message().c_str());
    return 4;
  }
  const std::string address = config->listen_host + ":" + std::to_string(server.value()->port());
  node.agent_url = "http://" + address;
  node.hook_socket = config->hooks_socket;
  Agent agent(config.value(), node, token.value());
  if (Status hooks = agent.StartHooks(); !hooks.ok()) {
    std::fprintf(stderr, "bulwark-agent: hooks socket: %s\n", hooks.message().c_str());
    return 4;
  }
  if (Status snapshots = agent.StartSnapshots(); !snapshots.ok()) {
    std::fprintf(stderr, "bulwark-agent: %s\n", snapshots.message().c_str());
    return 4;
  }
  agent_ptr = &agent;
  if (!config->address_file.empty()) {
    std::ofstream(config->address_file + ".tmp") << address << "\n";
    std::rename((config->address_file + ".tmp").c_str(), config->address_file.c_str());
  }
  std::thread http_thread([&io] { io.run(); });

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  LogLine("bulwark-agent[" + node.name + "]", "starting: controller " + config->controller_url + ", serving " + address +
                                                  ", " + std::to_string(node.nics.size()) + " NICs, " +
                                                  std::to_string(node.cpus) + " CPUs, hooks socket " + config->hooks_socket);
  agent.Run(&g_stop);
  io.stop();
  http_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
