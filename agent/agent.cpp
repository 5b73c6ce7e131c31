#include "agent/agent.h"

#include <signal.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <iterator>
#include <random>
#include <thread>

#include "agent/flow_ports.h"
#include "agent/metric_families.h"
#include "agent/self_check.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/http_client.h"
#include "snapshot/data_plane.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;

void Log(const std::string& node, const std::string& message) { LogLine("bulwark-agent[" + node + "]", message); }

// Sleeps up to ms, waking early when *stop turns true.
void SleepUnlessStopped(int64_t ms, const std::atomic<bool>* stop) {
  const int64_t until = MonotonicMs() + ms;
  while (!stop->load() && MonotonicMs() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, until - MonotonicMs() + 1)));
  }
}

// The ranks' snapshot memory and this agent's parity live under the node's shm prefix.
std::string SnapshotPrefix(const NodeInfo& node) {
  return node.shm_prefix.empty() || node.shm_prefix[0] != '/' ? node.shm_prefix : node.shm_prefix.substr(1);
}

// `name` in the agent's own directory if it is there, else "": the build and the install
// put bulwark-mpirun and bulwark-mpi-check beside bulwark-agent.
std::string Sibling(const std::string& name) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto path = self.parent_path() / name;
  return std::filesystem::exists(path, ec) ? path.string() : "";
}

json ParseOrEmpty(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

}  // namespace

Agent::Agent(AgentConfig config, NodeInfo node, std::string token)
    : config_(std::move(config)),
      node_(std::move(node)),
      token_(std::move(token)),
      started_mono_ms_(MonotonicMs()),
      ranks_(node_.name, config_.work_dir,
             {{"BULWARK_AGENT_SOCKET", config_.hooks_socket},
              {"BULWARK_AGENT_URL", node_.agent_url},
              {"BULWARK_SNAPSHOT_PREFIX", SnapshotPrefix(node_)}}),
      telemetry_(static_cast<size_t>(config_.telemetry_buffer_batches)),
      events_(static_cast<size_t>(config_.event_buffer)),
      launcher_(node_.name, config_.hooks_socket, config_.work_dir, config_.procfs_root, [this](json event) { PushEvent(std::move(event)); }),
      injector_({[this] { return launcher_.Ranks(); }, "/dev/shm", SnapshotPrefix(node_), [this](json event) { PushEvent(std::move(event)); },
                 [] { ::raise(SIGKILL); },
                 config_.link_fault_interface, config_.link_fault_netem.empty() ? Sibling("bulwark-netem") : config_.link_fault_netem}) {}

Status Agent::StartHooks() {
  auto hooks = HookIntake::Start(
      {config_.hooks_socket, config_.local_hang_ms, config_.procfs_root},
      [this](json event) {
        // A rank this agent killed to stop its job did not crash.
        auto& detail = event["detail"];
        if (detail.is_object() && launcher_.WasStopped(static_cast<pid_t>(detail.value("pid", int64_t{0})))) {
          detail["requested"] = true;
        }
        PushEvent(std::move(event));
      },
      [this](const std::string& line) { Log(node_.name, line); });
  if (!hooks.ok()) return hooks.status();
  hooks_ = std::move(hooks.value());
  return Status::Ok();
}

Status Agent::StartSnapshots() {
  SnapshotOptions o;
  o.node = node_.name;
  o.domain = node_.rack;
  o.prefix = SnapshotPrefix(node_);
  o.controller_url = config_.controller_url;
  o.token = token_;
  o.listen_host = config_.snapshot_listen_host;
  o.listen_port = config_.snapshot_listen_port;
  o.budget_bytes = config_.snapshot_budget_bytes;
  o.chunk_bytes = static_cast<size_t>(config_.snapshot_chunk_bytes);
  o.poll_ms = config_.snapshot_poll_ms;
  o.timeout_ms = config_.snapshot_timeout_ms;
  auto service = SnapshotService::Start(o, [this](const std::string& line) { Log(node_.name, line); });
  if (!service.ok()) return service.status();
  snapshots_ = std::move(service).value();
  node_.data_address = snapshots_->data_address();  // registered: peers probe links to it
  return Status::Ok();
}

SelfCheckOptions Agent::SelfCheckDefaults() const {
  SelfCheckOptions options;
  options.work_dir = config_.work_dir;
  options.procfs_root = config_.procfs_root;
  options.forced_fail = config_.self_check_fail;
  options.baseline_path = config_.work_dir + "/self-check-baseline.json";
  options.min_fraction_of_baseline = config_.self_check_min_fraction;
  options.mpi_launcher = config_.self_check_mpi_launcher.empty() ? Sibling("bulwark-mpirun") : config_.self_check_mpi_launcher;
  options.mpi_program = config_.self_check_mpi_program.empty() ? Sibling("bulwark-mpi-check") : config_.self_check_mpi_program;
  options.mpi_timeout_ms = config_.self_check_mpi_timeout_ms;
  options.gpu_program = config_.self_check_gpu_program.empty() ? Sibling("bulwark-gpu-check") : config_.self_check_gpu_program;
  options.cuda_library = config_.self_check_cuda_library;
  options.nccl_library = config_.self_check_nccl_library;
  options.expected_gpus = node_.gpus;
  options.gpu_timeout_ms = config_.self_check_gpu_timeout_ms;
  return options;
}

void Agent::Run(const std::atomic<bool>* stop) {
  // Admission: the first run records this node's baseline, against which later checks
  // compare. Beside the loops, so registering does not wait for it.
  std::thread admission;
  if (!std::filesystem::exists(SelfCheckDefaults().baseline_path)) {
    admission = std::thread([this] {
      const json first = RunSelfChecks(SelfCheckDefaults());
      Log(node_.name, "self-check at admission: " + first["summary"].get<std::string>());
    });
  }
  std::thread commands([this, stop] { CommandLoop(stop); });
  std::thread snapshots;
  if (snapshots_) snapshots = std::thread([this, stop] { snapshots_->Run(stop); });
  std::thread hooks;
  if (hooks_) hooks = std::thread([this, stop] { hooks_->Run(stop); });
  MainLoop(stop);
  commands.join();
  if (hooks.joinable()) hooks.join();
  if (snapshots.joinable()) snapshots.join();
  if (admission.joinable()) admission.join();
  {
    std::lock_guard<std::mutex> lock(prefetch_mutex_);
    for (auto& t : prefetches_) t.join();
  }
  const int stopped = ranks_.Stop(2000);
  if (stopped > 0) Log(node_.name, "stopped " + std::to_string(stopped) + " ranks on shutdown");
}

void Agent::PushEvent(json event) {
  events_.Push(std::move(event));
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_ = true;
  }
  wake_cv_.notify_all();
}

void Agent::SleepUntilEventOrStop(int64_t ms, const std::atomic<bool>* stop) {
  const int64_t until = MonotonicMs() + ms;
  std::unique_lock<std::mutex> lock(wake_mutex_);
  while (!stop->load() && !wake_ && MonotonicMs() < until) {
    wake_cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(50, until - MonotonicMs() + 1)));
  }
  wake_ = false;
}

int Agent::ForgetRankSlots(const std::string& job) {
  // This node no longer runs the job (fenced, drained): its ranks' snapshot memory goes, so
  // it stops reporting those ranks and the node that took them over holds the member alone.
  const std::string head = SnapshotPrefix(node_) + "." + job + ".r";
  int removed = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    if (e.path().filename().string().rfind(head, 0) == 0 && std::filesystem::remove(e.path(), ec)) ++removed;
  }
  Log(node_.name, "forgot " + std::to_string(removed) + " snapshot slot files of job " + job);
  return removed;
}

void Agent::RecordRankExits() {
  for (const auto& e : ranks_.Reap()) {
    PushEvent({{"kind", "rank.exited"},
                  {"time_ms", WallMs()},
                  {"detail", {{"rank", e.rank}, {"pid", e.pid}, {"exit_code", e.exit_code}, {"signal", e.signal},
                              {"requested", e.requested}}}});
    Log(node_.name, "rank " + std::to_string(e.rank) + " (pid " + std::to_string(e.pid) + ") exited: " +
                        (e.signal ? "signal " + std::to_string(e.signal) : "code " + std::to_string(e.exit_code)));
  }
}

void Agent::MainLoop(const std::atomic<bool>* stop) {
  http::Client client(config_.controller_url, token_, 5000);
  Backoff backoff(config_.backoff_initial_ms, config_.backoff_max_ms, std::random_device{}());
  const std::string base = "/v1/agents/" + http::UrlEncode(node_.name);
  int64_t next_telemetry = MonotonicMs() + config_.telemetry_interval_ms;
  bool was_away = false;

  while (!stop->load()) {
    RecordRankExits();
    const int64_t now = MonotonicMs();
    if (now >= next_telemetry) {
      next_telemetry = now + config_.telemetry_interval_ms;
      if (auto summary = hooks_ ? hooks_->Summary(WallMs()) : std::nullopt) {
        telemetry_.Push(ToJson(*summary));
      } else if (ranks_.running() > 0) {
        // Ranks that are not hooked: at least say they run.
        json ranks = json::array();
        for (const auto& r : ranks_.Status()) ranks.push_back({{"rank", r["rank"]}, {"pid", r["pid"]}, {"comms", json::array()}});
        telemetry_.Push({{"time_ms", WallMs()}, {"ranks", ranks}});
      }
    }

    if (!registered_) {
      auto r = client.Send("POST", "/v1/agents/register", ToJson(node_).dump());
      if (!r.ok() || r->status != 200) {
        const std::string why = r.ok() ? "HTTP " + std::to_string(r->status) + " " + r->body : r.status().message();
        if (!was_away) Log(node_.name, "cannot register (will retry with backoff): " + why);
        was_away = true;
        if (r.ok() && (r->status == 400 || r->status == 401)) {
          SleepUnlessStopped(config_.backoff_max_ms, stop);  // a config problem: retry slowly
        } else {
          SleepUnlessStopped(backoff.NextMs(), stop);
        }
        continue;
      }
      const json answer = ParseOrEmpty(r->body);
      {
        std::lock_guard<std::mutex> lock(instance_mutex_);
        controller_instance_ = answer.value("controller_instance", "");
      }
      registered_ = true;
      ++counters_.registrations;
      backoff.Reset();
      Log(node_.name, std::string(was_away ? "registered again" : "registered") + " with " + config_.controller_url +
                          " as " + answer.value("/node/health"_json_pointer, std::string("?")));
      was_away = false;
    }

    // Heartbeat.
    const json beat = {{"ranks_running", ranks_.running()},
                       {"telemetry_buffered", telemetry_.size()},
                       {"telemetry_dropped", telemetry_.dropped()},
                       {"events_dropped", events_.dropped()},
                       {"uptime_ms", MonotonicMs() - started_mono_ms_}};
    auto r = client.Send("POST", base + "/heartbeat", beat.dump());
    if (!r.ok() || r->status == 404 || r->status >= 500) {
      ++counters_.heartbeat_failures;
      if (!was_away) {
        Log(node_.name, "controller unreachable or lost us (" + (r.ok() ? "HTTP " + std::to_string(r->status) : r.status().message()) +
                            "); buffering telemetry and re-registering");
      }
      was_away = true;
      registered_ = false;
      SleepUnlessStopped(backoff.NextMs(), stop);
      continue;
    }
    ++counters_.heartbeats_sent;
    {
      const std::string instance = ParseOrEmpty(r->body).value("controller_instance", "");
      std::lock_guard<std::mutex> lock(instance_mutex_);
      if (instance != controller_instance_) registered_ = false;  // it restarted: say who we are again
    }

    // Ship what waited, oldest first; drop only what the controller refused as malformed.
    for (auto* buffer : {&events_, &telemetry_}) {
      const bool is_events = buffer == &events_;
      while (registered_ && buffer->size() > 0) {
        json items = buffer->Peek(64);
        json body = is_events ? json{{"events", items}} : json{{"batches", items}};
        auto sent = client.Send("POST", base + (is_events ? "/events" : "/telemetry"), body.dump());
        if (!sent.ok() || sent->status >= 500 || sent->status == 404) break;
        if (sent->status != 200) Log(node_.name, "controller refused " + std::string(is_events ? "events" : "telemetry") + ": " + sent->body);
        buffer->Pop(items.size());
      }
    }
    // An event (a rank gone, a local hang) wakes the loop early: diagnosis waits on it.
    SleepUntilEventOrStop(config_.heartbeat_interval_ms, stop);
  }
}

void Agent::CommandLoop(const std::atomic<bool>* stop) {
  http::Client client(config_.controller_url, token_, config_.command_wait_ms + 5000);
  client.set_cancel_flag(stop);
  Backoff backoff(config_.backoff_initial_ms, config_.backoff_max_ms, std::random_device{}());
  const std::string base = "/v1/agents/" + http::UrlEncode(node_.name);
  uint64_t after = 0;
  std::string cursor_instance;  // command ids restart with each controller instance
  while (!stop->load()) {
    if (!registered_) {
      SleepUnlessStopped(100, stop);
      continue;
    }
    // The instance the cursor counts in: a restarted controller answers at once, not parked.
    auto r = client.Send("GET", base + "/commands?after=" + std::to_string(after) +
                                    "&wait_ms=" + std::to_string(config_.command_wait_ms) +
                                    (cursor_instance.empty() ? "" : "&instance=" + http::UrlEncode(cursor_instance)));
    if (!r.ok() || r->status != 200) {
      SleepUnlessStopped(backoff.NextMs(), stop);
      continue;
    }
    backoff.Reset();
    const json answer = ParseOrEmpty(r->body);
    const std::string instance = answer.value("controller_instance", "");
    if (instance != cursor_instance) {
      cursor_instance = instance;
      if (after != 0) {
        after = 0;  // a new controller: its ids start over, so ask again from the start
        continue;
      }
    }
    if (!answer.contains("commands") || !answer["commands"].is_array()) continue;
    for (const auto& command : answer["commands"]) {
      const uint64_t id = command.value("id", uint64_t{0});
      if (id <= after) continue;
      after = id;
      bool ok = false;
      json result = Execute(command, &ok);
      ++counters_.commands_run;
      Log(node_.name, "command " + std::to_string(id) + " " + command.value("kind", std::string("?")) + ": " +
                          (ok ? "ok" : "failed") + " " + result.dump());
      client.Send("POST", base + "/commands/" + std::to_string(id) + "/result", json{{"ok", ok}, {"result", result}}.dump());
    }
  }
}

json Agent::Execute(const json& command, bool* ok) {
  const std::string kind = command.value("kind", std::string());
  const json args = command.value("args", json::object());
  try {
    if (kind == "self_check") {
      SelfCheckOptions options = SelfCheckDefaults();
      options.only = args.value("checks", std::vector<std::string>{});
      options.peers = args.value("peers", std::vector<std::string>{});
      options.mpi_hosts = args.value("mpi_hosts", std::vector<std::string>{});
      options.run_mpi = args.value("mpi", false) || !options.mpi_hosts.empty();
      json result = RunSelfChecks(options);
      *ok = result["passed"].get<bool>();
      return result;
    }
    if (kind == "probe_links") {
      // Diagnosis' probe matrix: this node's row, measured to every peer's data plane.
      json links = json::array();
      *ok = true;
      for (const auto& peer : args.at("peers")) {
        const std::string to = peer.at("node").get<std::string>();
        auto m = snapshot::ProbeLink(peer.at("address").get<std::string>(), args.value("pings", 20),
                                     args.value("bulk_bytes", size_t{16} << 20), args.value("timeout_ms", 10000));
        if (m.ok()) {
          links.push_back({{"to", to}, {"latency_us", m->latency_us}, {"mbps", m->mbps}});
        } else {
          *ok = false;
          links.push_back({{"to", to}, {"error", m.status().message()}});
        }
      }
      return {{"node", node_.name}, {"links", links}};
    }
    if (kind == "start_ranks") {
      auto started = ranks_.Start(args.at("command").get<std::vector<std::string>>(), args.value("ranks", 1),
                                  args.value("first_rank", 0),
                                  args.value("env", std::map<std::string, std::string>{}));
      *ok = started.ok();
      return started.ok() ? started.value() : json{{"error", started.status().message()}};
    }
    if (kind == "stop_ranks") {
      const int stopped = ranks_.Stop(args.value("grace_ms", int64_t{5000}));
      RecordRankExits();
      *ok = true;
      return {{"stopped", stopped}};
    }
    if (kind == "launch_job") {
      auto launched = launcher_.Launch(args.at("job").get<std::string>(), args.at("attempt").get<int>(),
                                       args.at("argv").get<std::vector<std::string>>());
      *ok = launched.ok();
      return launched.ok() ? launched.value() : json{{"error", launched.status().message()}};
    }
    if (kind == "prefetch_snapshot") {
      // A replacement node rebuilds its shard from peers while mpirun still starts the
      // ranks: the rank's own restore request then finds it in local memory.
      if (!snapshots_) {
        *ok = false;
        return {{"error", "snapshots are off on this agent"}};
      }
      const std::string job = args.at("job").get<std::string>();
      const int rank = args.at("rank").get<int>();
      const uint64_t step = args.at("step").get<uint64_t>();
      std::lock_guard<std::mutex> lock(prefetch_mutex_);
      prefetches_.emplace_back([this, job, rank, step] {
        auto r = snapshots_->Restore(job, rank, step);
        Log(node_.name, "prefetched rank " + std::to_string(rank) + " of " + job + " at step " + std::to_string(step) + ": " +
                            (r.ok() ? r->dump() : r.status().message()));
      });
      *ok = true;
      return {{"job", job}, {"rank", rank}, {"step", step}, {"started", true}};
    }
    if (kind == "pause_job") {
      *ok = true;
      return launcher_.Pause(args.at("job").get<std::string>(), args.value("attempt", INT_MAX));
    }
    if (kind == "stop_job") {
      const std::string job = args.at("job").get<std::string>();
      json result = launcher_.Stop(job, args.value("wait_ms", int64_t{5000}), args.value("attempt", INT_MAX));
      if (args.value("forget_snapshots", false)) result["forgotten_slots"] = ForgetRankSlots(job);
      *ok = true;
      return result;
    }
    if (kind == "inject" || kind == "heal_injection") {
      auto done = kind == "inject" ? injector_.Apply(args) : injector_.Heal(args.at("id").get<std::string>());
      *ok = done.ok();
      return done.ok() ? done.value() : json{{"error", done.status().message()}};
    }
    if (kind == "flow_ports") {
      auto stored = StoreFlowPorts(config_.work_dir, args);
      *ok = stored.ok();
      return stored.ok() ? stored.value() : json{{"error", stored.status().message()}};
    }
    if (kind == "report_status") {
      *ok = true;
      return {{"node", node_.name},
              {"ranks", ranks_.Status()},
              {"telemetry_buffered", telemetry_.size()},
              {"telemetry_dropped", telemetry_.dropped()},
              {"events_dropped", events_.dropped()},
              {"uptime_ms", MonotonicMs() - started_mono_ms_},
              {"registrations", counters_.registrations.load()},
              {"hooks", hooks_ ? hooks_->StatusJson() : json()},
              {"snapshots", snapshots_ ? snapshots_->StatusJson() : json()},
              {"injections", injector_.Active()}};
    }
  } catch (const std::exception& e) {
    *ok = false;
    return {{"error", std::string("bad arguments: ") + e.what()}};
  }
  *ok = false;
  return {{"error", "this agent does not know command kind '" + kind + "'"}};
}

std::string Agent::MetricsText() const {
  using prometheus::MetricType;
  MetricFamilies out;
  auto count = [&out](const char* name, const char* help, double value) {
    out.push_back(OneSample(name, help, MetricType::Counter, value));
  };
  auto gauge = [&out](const char* name, const char* help, double value) {
    out.push_back(OneSample(name, help, MetricType::Gauge, value));
  };
  gauge("bulwark_agent_registered", "1 while this agent is registered with the controller", registered_ ? 1 : 0);
  count("bulwark_agent_registrations_total", "Registrations with the controller (again after it restarted)",
        static_cast<double>(counters_.registrations));
  count("bulwark_agent_heartbeats_total", "Heartbeats the controller answered", static_cast<double>(counters_.heartbeats_sent));
  count("bulwark_agent_heartbeat_failures_total", "Heartbeats that got no answer",
        static_cast<double>(counters_.heartbeat_failures));
  count("bulwark_agent_commands_total", "Commands from the controller run", static_cast<double>(counters_.commands_run));
  gauge("bulwark_agent_ranks_running", "Training ranks running on this node", static_cast<double>(ranks_.running()));
  gauge("bulwark_agent_telemetry_buffered", "Telemetry batches waiting to be sent", static_cast<double>(telemetry_.size()));
  count("bulwark_agent_telemetry_dropped_total", "Telemetry batches dropped while the controller was unreachable",
        static_cast<double>(telemetry_.dropped()));
  count("bulwark_agent_events_dropped_total", "Events dropped while the controller was unreachable",
        static_cast<double>(events_.dropped()));
  if (hooks_) {
    auto more = hooks_->Metrics();
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  if (snapshots_) {
    auto more = snapshots_->Metrics();
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return RenderMetrics(out);
}

}  // namespace bulwark::agent
