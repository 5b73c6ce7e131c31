// bulwark-controller: the cluster daemon. Usage: bulwark-controller --config FILE [--check-config]
// (--check-config: read the config, say what is wrong with it, exit; a ConfigMap's test)
// Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad arguments or config, 3 state store or
// token files unusable, 4 cannot listen.
#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/http_server.h"
#include "common/token.h"
#include "controller/api.h"
#include "controller/cluster.h"
#include "controller/controller_config.h"
#include "controller/kube_cordon.h"
#include "controller/metrics.h"
#include "controller/state_store.h"

namespace {

using namespace bulwark;
using namespace bulwark::controller;

void Log(const std::string& message) { LogLine("bulwark-controller", message); }

bool WriteAddressFile(const std::string& path, const std::string& address) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << address << "\n";
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;  // readers never see a partial line
}

// Checks for lost heartbeats and lets diagnosis conclude, a few times per interval.
// Logs a periodic task's failure when it is new or 10 s after it was last logged: a store
// that refuses writes (a full disk) would otherwise log the same line every tick.
void LogTickFailure(const std::string& task, const std::string& error) {
  static std::map<std::string, std::pair<std::string, int64_t>> last;  // task -> (error, logged at)
  static std::map<std::string, int> repeats;
  auto& [seen, at] = last[task];
  const int64_t now = MonotonicMs();
  if (error == seen && now - at < 10000) {
    ++repeats[task];
    return;
  }
  const int n = repeats[task];
  Log(task + " failed: " + error + (n > 0 && error == seen ? " (and " + std::to_string(n) + " times since last said)" : ""));
  seen = error;
  at = now;
  repeats[task] = 0;
}

void ScheduleHeartbeatCheck(boost::asio::steady_timer* timer, Cluster* cluster, Api* api, int64_t period_ms) {
  timer->expires_after(std::chrono::milliseconds(period_ms));
  timer->async_wait([=](const boost::system::error_code& ec) {
    if (ec) return;
    // Each on its own: one that fails (its writes refused) must not starve the others, such
    // as the heal of the fill-disk that made them fail.
    const std::pair<const char*, std::function<void()>> tasks[] = {
        {"heartbeat check", [&] { cluster->CheckHeartbeats(WallMs(), MonotonicMs()); }},
        {"diagnosis", [&] { cluster->Diagnose(WallMs(), MonotonicMs()); }},
        {"job driving", [&] { cluster->DriveJobs(WallMs(), MonotonicMs()); }},
        {"injection timer", [&] { api->Tick(WallMs()); }},
    };
    for (const auto& [name, task] : tasks) {
      try {
        task();
      } catch (const std::exception& e) {
        LogTickFailure(name, e.what());
      }
    }
    ScheduleHeartbeatCheck(timer, cluster, api, period_ms);
  });
}

int Run(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: bulwark-controller --config FILE [--check-config]\n");
      return 0;
    } else {
      std::fprintf(stderr, "bulwark-controller: unknown argument '%s' (usage: --config FILE)\n", arg.c_str());
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "bulwark-controller: --config FILE is required\n");
    return 2;
  }
  auto config = LoadControllerConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "bulwark-controller: %s\n", config.status().message().c_str());
    return 2;
  }
  std::optional<netplan::Topology> topology;
  if (!config->netplan_topology.empty()) {
    auto loaded = LoadTopologyFile(config->netplan_topology);
    if (!loaded.ok()) {
      std::fprintf(stderr, "bulwark-controller: netplan.topology: %s\n", loaded.status().message().c_str());
      return 2;
    }
    topology = std::move(loaded.value());
  }
  if (check_only) {
    std::printf("bulwark-controller: %s is a valid config\n", config_path.c_str());
    return 0;
  }
  auto agent_token = ReadTokenFile(config->agent_token_file);
  auto operator_token = ReadTokenFile(config->operator_token_file);
  for (const auto* t : {&agent_token, &operator_token}) {
    if (!t->ok()) {
      std::fprintf(stderr, "bulwark-controller: %s\n", t->status().message().c_str());
      return 3;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(config->data_dir, ec);
  auto store = StateStore::Open(config->data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "bulwark-controller: %s\n", store.status().message().c_str());
    return 3;
  }

  boost::asio::io_context io(1);
  ClusterOptions cluster_options;
  cluster_options.heartbeat_interval_ms = config->heartbeat_interval_ms;
  cluster_options.missed_beats = config->missed_beats;
  cluster_options.restart_grace_ms = config->restart_grace_ms;
  cluster_options.diagnosis.hang_ms = config->hang_ms;
  cluster_options.diagnosis.warmup_hang_ms = config->warmup_hang_ms;
  cluster_options.diagnosis.warmup_collectives = static_cast<uint64_t>(config->warmup_collectives);
  cluster_options.diagnosis.crash_settle_ms = config->crash_settle_ms;
  cluster_options.diagnosis.min_slowdown_percent = config->straggler_min_slowdown_percent;
  cluster_options.diagnosis.imbalance_min_lost_fraction = config->imbalance_min_lost_percent / 100;
  cluster_options.diagnosis.transfer.factor = config->slow_communication_factor;
  cluster_options.diagnosis.transfer.min_extra_us = config->slow_communication_min_extra_us;
  cluster_options.link_slow_fraction = config->link_slow_fraction;
  cluster_options.diagnosis_trace = config->diagnosis_trace;
  cluster_options.launch = {config->launch_mpirun, config->launch_rsh_agent, config->launch_hook_library,
                            config->launch_mpirun_args};
  cluster_options.stop_timeout_ms = config->launch_stop_timeout_ms;
  cluster_options.restore_timeout_ms = config->launch_restore_timeout_ms;
  cluster_options.nic_fabric = config->placement_fabric;
  Cluster cluster(store->get(), cluster_options, NewToken().substr(0, 16));
  if (Status traced = cluster.StartDiagnosisTrace(); !traced.ok()) {
    std::fprintf(stderr, "bulwark-controller: %s\n", traced.message().c_str());
    return 3;
  }
  try {
    cluster.Load(MonotonicMs());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bulwark-controller: cannot load state from %s: %s\n", config->data_dir.c_str(), e.what());
    return 3;
  }

  // Fenced nodes are cordoned in Kubernetes when configured; the outcome comes back to the
  // event loop as an event.
  std::unique_ptr<KubeCordoner> cordoner;
  if (config->kubernetes.cordon) {
    auto api_server = KubeApiServer(config->kubernetes, std::getenv("KUBERNETES_SERVICE_HOST"),
                                    std::getenv("KUBERNETES_SERVICE_PORT"));
    if (!api_server.ok()) {
      std::fprintf(stderr, "bulwark-controller: %s\n", api_server.status().message().c_str());
      return 2;
    }
    cordoner = std::make_unique<KubeCordoner>(
        config->kubernetes, api_server.value(), [&](const std::string& node, bool unschedulable, const Status& outcome) {
          if (!outcome.ok()) Log(outcome.message());
          boost::asio::post(io, [&cluster, node, unschedulable, outcome] {
            nlohmann::json event = {{"time_ms", WallMs()},
                                    {"kind", outcome.ok() ? (unschedulable ? "node.cordoned" : "node.uncordoned")
                                                          : "node.cordon_failed"},
                                    {"node", node}};
            if (!outcome.ok()) event["error"] = outcome.message();
            try {
              cluster.RecordEvent(event);
            } catch (const std::exception& e) {
              Log(std::string("cannot store the cordon's outcome: ") + e.what());
            }
          });
        });
    cluster.set_on_fence([&](const std::string& node, bool fenced) { cordoner->Request(node, fenced); });
  }

  ControllerMetrics metrics;
  http::Server* server_ptr = nullptr;
  ApiOptions api_options{agent_token.value(), operator_token.value(), config->open_reads, config->long_poll_max_ms,
                         config->snapshot_k, config->snapshot_m, config->data_dir, std::move(topology)};
  Api api(&cluster, &io, api_options, &metrics, [&] { return server_ptr ? server_ptr->open_connections() : 0; });

  http::ServerOptions server_options;
  server_options.host = config->listen_host;
  server_options.port = config->listen_port;
  server_options.max_body_bytes = static_cast<size_t>(config->max_body_bytes);
  server_options.max_connections = static_cast<size_t>(config->max_connections);
  server_options.idle_timeout_ms = static_cast<int>(config->idle_timeout_ms);
  auto server = http::Server::Start(io, server_options,
                                    [&](http::Request req, http::Respond respond) { api.Handle(std::move(req), std::move(respond)); });
  if (!server.ok()) {
    std::fprintf(stderr, "bulwark-controller: %s\n", server.status().message().c_str());
    return 4;
  }
  server_ptr = server->get();
  const std::string address = config->listen_host + ":" + std::to_string(server_ptr->port());
  if (!config->address_file.empty() && !WriteAddressFile(config->address_file, address)) {
    std::fprintf(stderr, "bulwark-controller: cannot write address file %s\n", config->address_file.c_str());
    return 3;
  }

  boost::asio::steady_timer heartbeat_timer(io);
  ScheduleHeartbeatCheck(&heartbeat_timer, &cluster, &api, std::max<int64_t>(10, config->heartbeat_interval_ms / 4));
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    Log(std::string("stopping on ") + strsignal(signal));
    api.set_ready(false);
    server_ptr->Stop();
    io.stop();
  });
  ::signal(SIGPIPE, SIG_IGN);

  api.set_ready(true);
  auto summary = cluster.Summary(MonotonicMs());
  Log("listening on " + address + "; state in " + config->data_dir + " (" +
      std::to_string(summary["nodes"]["total"].get<size_t>()) + " nodes, " +
      std::to_string(summary["jobs"]["total"].get<size_t>()) + " jobs, event " +
      std::to_string(cluster.last_event_id()) + ")");
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
