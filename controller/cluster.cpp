#include "controller/cluster.h"

#include <cstdio>

#include "common/strict_json.h"

namespace bulwark::controller {
namespace {

const char* const kCommandKinds[] = {"self_check", "start_ranks", "stop_ranks", "report_status",
                                     "probe_links", "launch_job",  "stop_job",   "pause_job",
                                     "prefetch_snapshot", "inject", "heal_injection", "flow_ports"};

// Checks a command's arguments here, so a typo is a 400 to the operator rather than a
// failure reported later by the agent.
void CheckCommandArgs(const std::string& kind, const nlohmann::json& args) {
  StrictJson in(args, "args");
  if (kind == "start_ranks") {
    if (in.StringList("command").empty()) in.Fail("command", "is required: the program and its arguments");
    in.Int("ranks", 1, 1, 256);
    in.Int("first_rank", 0, 0, 1 << 24);
    auto env = in.Raw("env");
    if (!env.is_null()) {
      if (!env.is_object()) in.Fail("env", "must be an object of strings");
      for (auto it = env.begin(); it != env.end(); ++it) {
        if (!it->is_string()) in.Fail("env." + it.key(), "must be a string");
      }
    }
  } else if (kind == "stop_ranks") {
    in.Int("grace_ms", 5000, 0, 600000);
  } else if (kind == "self_check") {
    in.StringList("checks");
    in.StringList("peers");
    in.Bool("mpi", false);
    if (in.StringList("mpi_hosts").size() == 1) in.Fail("mpi_hosts", "needs at least 2 hosts (or none: 2 ranks on the node)");
  } else if (kind == "probe_links") {
    const auto peers = in.Raw("peers");
    if (!peers.is_array() || peers.empty()) in.Fail("peers", "is required: [{node, address}, ...]");
    for (size_t i = 0; i < peers.size(); ++i) {
      StrictJson peer(peers[i], "args.peers[" + std::to_string(i) + "]");
      if (peer.String("node", "").empty()) peer.Fail("node", "is required");
      if (peer.String("address", "").empty()) peer.Fail("address", "is required: the peer's data-plane host:port");
      peer.Finish();
    }
    in.Int("pings", 20, 1, 1000);
    in.Int("bulk_bytes", 16 << 20, 0, int64_t{1} << 30);
    in.Int("timeout_ms", 10000, 100, 600000);
  } else if (kind == "launch_job") {
    if (in.String("job", "").empty()) in.Fail("job", "is required");
    in.RequiredInt("attempt", 1, INT32_MAX);
    if (in.StringList("argv").empty()) in.Fail("argv", "is required: the launcher and its arguments");
  } else if (kind == "prefetch_snapshot") {
    if (in.String("job", "").empty()) in.Fail("job", "is required");
    in.RequiredInt("rank", 0, 1 << 24);
    in.RequiredInt("step", 0, INT64_MAX);
  } else if (kind == "stop_job" || kind == "pause_job") {
    if (in.String("job", "").empty()) in.Fail("job", "is required");
    in.Int("wait_ms", 5000, 0, 600000);
    in.Int("attempt", INT32_MAX, 0, INT32_MAX);  // stop attempts up to this one only
    if (kind == "stop_job") in.Bool("forget_snapshots", false);
  } else if (kind == "flow_ports") {  // built by TrafficPlans from a plan
    if (in.String("job", "").empty()) in.Fail("job", "is required");
    in.RequiredInt("attempt", 1, INT32_MAX);
    in.RequiredInt("generation", 1, INT32_MAX);
    if (!in.Raw("flows").is_array()) in.Fail("flows", "is required: [{src, dst, channel, paths}, ...]");
  } else if (kind == "inject" || kind == "heal_injection") {  // built by Injections from a checked spec
    if (in.String("id", "").empty()) in.Fail("id", "is required");
    if (kind == "inject") {
      if (in.String("kind", "").empty()) in.Fail("kind", "is required");
      in.String("node", "");
      in.String("job", "");
      in.Int("rank", 0, 0, 1 << 24);
      in.Int("duration_ms", 0, 0, INT64_MAX);
      in.Int("percent", 100, 1, 1000);
      in.Int("delay_ms", 0, 0, 10000);
      in.Number("rate_mbit", 0, 0, 1e6);
      in.Number("loss_percent", 0, 0, 100);
      in.Int("period_ms", 0, 0, INT64_MAX);
      in.Int("down_ms", 0, 0, INT64_MAX);
    }
  }
  in.Finish();
}

}  // namespace

nlohmann::json ToJson(const Command& c) {
  return {{"id", c.id},         {"node", c.node},     {"kind", c.kind},
          {"args", c.args},     {"state", c.state},   {"result", c.result},
          {"created_ms", c.created_ms}, {"updated_ms", c.updated_ms}};
}

Cluster::Cluster(StateStore* store, ClusterOptions options, std::string instance_id)
    : store_(store), options_(options), instance_id_(std::move(instance_id)), diagnosis_(options_.diagnosis) {}

void Cluster::Load(int64_t now_mono_ms) {
  for (const auto& [name, value] : store_->List(RecordKind::kNodes)) {
    LiveNode live;
    live.record = NodeRecordFromJson(nlohmann::json::parse(value));
    live.last_seen_mono_ms = now_mono_ms;  // a fresh grace period to check in
    nodes_[name] = std::move(live);
  }
  // A restart (nodes known from before): agents that backed off need time to come back.
  if (!nodes_.empty()) grace_until_mono_ms_ = now_mono_ms + options_.restart_grace_ms;
  for (const auto& [id, value] : store_->List(RecordKind::kJobs)) {
    JobRecord job = JobRecordFromJson(nlohmann::json::parse(value));
    unsigned long long number = 0;
    if (std::sscanf(id.c_str(), "job-%llu", &number) == 1 && number >= next_job_number_) next_job_number_ = number + 1;
    jobs_[id] = std::move(job);
  }
  LoadIncidents();
}

Cluster::LiveNode& Cluster::Find(const std::string& node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) throw ApiError(404, "unknown node '" + node + "'");
  return it->second;
}

const Cluster::LiveNode& Cluster::Find(const std::string& node) const {
  return const_cast<Cluster*>(this)->Find(node);
}

void Cluster::Commit(const std::vector<RecordChange>& changes, const std::vector<nlohmann::json>& events, bool sync) {
  std::vector<std::string> bodies;
  for (const auto& e : events) bodies.push_back(DumpJson(e));
  auto ids = store_->Commit(changes, bodies, sync);
  if (!ids.ok()) throw ApiError(503, ids.status().message());
  if (!events.empty() && on_events_) on_events_();
}

std::optional<Cluster::PendingTransition> Cluster::Plan(LiveNode& node, NodeInput input, const std::string& reason,
                                                       int64_t now_wall_ms) const {
  auto t = ApplyNodeInput(node.record.state, input, reason, now_wall_ms);
  if (!t.ok()) throw ApiError(409, "node '" + node.record.info.name + "': " + t.status().message());
  if (!t->changed) return std::nullopt;
  const NodeState before = node.record.state;
  NodeRecord updated = node.record;
  updated.state = t->next;
  nlohmann::json event = {{"time_ms", now_wall_ms}, {"kind", t->event_kind}, {"node", updated.info.name},
                          {"reason", reason}};
  if (t->event_kind == "node.health") {
    event["from"] = HealthName(before.health);
    event["to"] = HealthName(t->next.health);
    event["role"] = RoleName(t->next.role);
  } else if (t->event_kind == "node.role") {
    event["from"] = RoleName(before.role);
    event["to"] = RoleName(t->next.role);
  } else {
    event["drained"] = t->next.drained;
  }
  return PendingTransition{&node, std::move(updated), std::move(event)};
}

void Cluster::CommitTransitions(std::vector<PendingTransition> transitions, bool sync) {
  if (transitions.empty()) return;
  std::vector<RecordChange> changes;
  std::vector<nlohmann::json> events;
  for (const auto& t : transitions) {
    changes.push_back({RecordKind::kNodes, t.updated.info.name, DumpJson(ToJson(t.updated))});
    events.push_back(t.event);
  }
  Commit(changes, events, sync);
  for (auto& t : transitions) {
    const bool was_isolated = t.node->record.state.health == Health::kIsolated;
    t.node->record = std::move(t.updated);  // only once they are stored
    const bool isolated = t.node->record.state.health == Health::kIsolated;
    if (on_fence_ && isolated != was_isolated) on_fence_(t.node->record.info.name, isolated);
  }
}

bool Cluster::Apply(LiveNode& node, NodeInput input, const std::string& reason, bool sync, int64_t now_wall_ms) {
  auto pending = Plan(node, input, reason, now_wall_ms);
  if (!pending) return false;
  std::vector<PendingTransition> one;
  one.push_back(std::move(*pending));
  CommitTransitions(std::move(one), sync);
  return true;
}

nlohmann::json Cluster::Register(const NodeInfo& info, int64_t now_wall_ms, int64_t now_mono_ms) {
  auto it = nodes_.find(info.name);
  const bool first = it == nodes_.end();
  NodeRecord record = first ? NodeRecord{} : it->second.record;
  if (first) {
    record.state.role = RoleFromName(info.role);
    record.state.reason = "registered";
    record.state.since_ms = now_wall_ms;
    record.registered_ms = now_wall_ms;
  }
  record.info = info;
  record.info.role = RoleName(record.state.role);  // the controller owns the role after the first registration
  record.registrations += 1;
  nlohmann::json event = {{"time_ms", now_wall_ms},
                          {"kind", first ? "node.registered" : "node.reregistered"},
                          {"node", info.name},
                          {"health", HealthName(record.state.health)},
                          {"role", RoleName(record.state.role)}};
  Commit({{RecordKind::kNodes, info.name, DumpJson(ToJson(record))}}, {event}, false);
  LiveNode& live = nodes_[info.name];
  live.record = std::move(record);
  live.last_seen_mono_ms = now_mono_ms;
  ++counters_.registrations;
  if (live.record.state.health == Health::kLost) {
    Apply(live, NodeInput::kHeartbeatResumed, "agent registered again after heartbeat loss; self-check requested",
          true, now_wall_ms);
    EnqueueCommand(info.name, {{"kind", "self_check"}}, now_wall_ms);
  }
  if (!first && live.record.state.health == Health::kSuspect) RequestLostSelfChecks(info.name, now_wall_ms);
  return {{"node", NodeJson(live, now_mono_ms)},
          {"controller_instance", instance_id_},
          {"heartbeat_interval_ms", options_.heartbeat_interval_ms}};
}

nlohmann::json Cluster::Heartbeat(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms,
                                  int64_t now_mono_ms) {
  LiveNode& live = Find(node);
  StrictJson in(body);
  nlohmann::json status = {{"ranks_running", in.Int("ranks_running", 0, 0, 1 << 20)},
                           {"telemetry_buffered", in.Int("telemetry_buffered", 0, 0, INT64_MAX)},
                           {"telemetry_dropped", in.Int("telemetry_dropped", 0, 0, INT64_MAX)},
                           {"events_dropped", in.Int("events_dropped", 0, 0, INT64_MAX)},
                           {"uptime_ms", in.Int("uptime_ms", 0, 0, INT64_MAX)}};
  in.Finish();
  live.last_heartbeat = std::move(status);
  live.last_seen_mono_ms = now_mono_ms;
  ++counters_.heartbeats;
  if (live.record.state.health == Health::kLost) {
    Apply(live, NodeInput::kHeartbeatResumed, "heartbeats resumed after loss; self-check requested", true,
          now_wall_ms);
    EnqueueCommand(node, {{"kind", "self_check"}}, now_wall_ms);
  }
  return {{"controller_instance", instance_id_},
          {"health", HealthName(live.record.state.health)},
          {"drained", live.record.state.drained}};
}

void Cluster::Telemetry(const std::string& node, const std::string& body, int64_t /*now_wall_ms*/,
                        int64_t now_mono_ms) {
  LiveNode& live = Find(node);
  std::vector<TelemetryBatch> batches = ParseTelemetry(body);
  for (const auto& batch : batches) {
    counters_.telemetry_rank_records += batch.ranks.size();
    diagnosis_.Telemetry(node, batch, now_mono_ms);
  }
  counters_.telemetry_batches += batches.size();
  if (!batches.empty()) live.last_telemetry = std::move(batches.back());
}

void Cluster::AgentEvents(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms,
                          int64_t now_mono_ms) {
  Find(node);
  StrictJson in(body);
  std::vector<nlohmann::json> events;
  for (auto& e : in.ObjectList("events")) {
    const std::string kind = e.RequiredString("kind");
    for (char c : kind) {
      if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.')) e.Fail("kind", "'" + kind + "' must be lowercase letters, '_' and '.'");
    }
    nlohmann::json detail = e.Raw("detail");
    if (!detail.is_null() && !detail.is_object()) e.Fail("detail", "must be an object");
    events.push_back({{"time_ms", e.Int("time_ms", now_wall_ms, 0, INT64_MAX)},
                      {"kind", "agent." + kind},
                      {"node", node},
                      {"detail", detail.is_null() ? nlohmann::json::object() : detail}});
    e.Finish();
  }
  in.Finish();
  if (events.empty()) return;
  Commit({}, events, false);
  counters_.agent_events += events.size();
  // A rank gone is diagnosis input: a ring whose writer vanished, or an exit nobody asked for
  // that was not a clean one.
  for (const auto& e : events) {
    const auto& d = e["detail"];
    const std::string kind = e["kind"];
    const int64_t rank = d.value("rank", int64_t{-1}), pid = d.value("pid", int64_t{0});
    if (rank < 0) continue;
    std::string why;
    if (kind == "agent.rank.ring_lost" && !d.value("requested", false)) {
      why = "vanished without finishing its ring (" + d.value("why", std::string("?")) + ")";
    } else if (kind == "agent.rank.exited" && !d.value("requested", false)) {
      const int64_t code = d.value("exit_code", int64_t{0}), signal = d.value("signal", int64_t{0});
      if (signal != 0) why = "was killed by signal " + std::to_string(signal);
      else if (code != 0) why = "exited with code " + std::to_string(code);
    }
    if (!why.empty()) diagnosis_.RankGone(node, rank, pid, why, e["time_ms"].get<int64_t>(), now_mono_ms);
  }
  last_mono_ms_ = std::max(last_mono_ms_, now_mono_ms);
  for (const auto& e : events) {
    if (e["kind"].get<std::string>().rfind("agent.job.", 0) == 0) JobAgentEvent(node, e, now_wall_ms);
  }
  DriveJobs(now_wall_ms, now_mono_ms);
}

Command Cluster::EnqueueCommand(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms) {
  LiveNode& live = Find(node);
  StrictJson in(body);
  Command c;
  c.kind = in.RequiredString("kind");
  bool known = false;
  for (const char* k : kCommandKinds) known = known || c.kind == k;
  if (!known) {
    std::string kinds;
    for (const char* k : kCommandKinds) kinds += std::string(kinds.empty() ? "" : ", ") + k;
    in.Fail("kind", "must be one of {" + kinds + "}, got '" + c.kind + "'");
  }
  nlohmann::json args = in.Raw("args");
  if (args.is_null()) args = nlohmann::json::object();
  CheckCommandArgs(c.kind, args);
  in.Finish();
  c.args = std::move(args);
  c.id = next_command_id_++;
  c.node = node;
  c.created_ms = c.updated_ms = now_wall_ms;
  live.commands.push_back(c);
  while (live.commands.size() > options_.commands_kept_per_node) live.commands.pop_front();
  ++counters_.commands;
  if (on_command_) on_command_(node);
  return c;
}

std::vector<Command> Cluster::CommandsAfter(const std::string& node, uint64_t after) const {
  std::vector<Command> out;
  for (const auto& c : Find(node).commands) {
    if (c.id > after) out.push_back(c);
  }
  return out;
}

void Cluster::CommandResult(const std::string& node, uint64_t id, const nlohmann::json& body, int64_t now_wall_ms) {
  LiveNode& live = Find(node);
  Command* command = nullptr;
  for (auto& c : live.commands) {
    if (c.id == id) command = &c;
  }
  if (!command) throw ApiError(404, "node '" + node + "' has no command " + std::to_string(id));
  StrictJson in(body);
  const bool ok = in.Bool("ok", false);
  if (!in.Has("ok")) in.Fail("ok", "is required");
  nlohmann::json result = in.Raw("result");
  in.Finish();
  command->state = ok ? "succeeded" : "failed";
  command->result = result;
  command->updated_ms = now_wall_ms;
  if (command->kind == "self_check") {
    std::string detail = result.is_object() && result.contains("summary") && result["summary"].is_string()
                             ? result["summary"].get<std::string>()
                             : std::string(ok ? "all checks passed" : "a check failed");
    Apply(live, ok ? NodeInput::kSelfCheckPassed : NodeInput::kSelfCheckFailed,
          std::string(ok ? "self-check passed: " : "self-check failed: ") + detail, true, now_wall_ms);
    SelfCheckConcluded(node, id, ok, detail, now_wall_ms);
  }
  if (command->kind == "probe_links") ProbesConcluded(node, result, now_wall_ms);
  if (command->kind == "launch_job" || command->kind == "stop_job" || command->kind == "pause_job") {
    JobCommandDone(*command, now_wall_ms);
  }
}

nlohmann::json Cluster::GetCommand(const std::string& node, uint64_t id) const {
  for (const auto& c : Find(node).commands) {
    if (c.id == id) return ToJson(c);
  }
  throw ApiError(404, "node '" + node + "' has no command " + std::to_string(id));
}

nlohmann::json Cluster::NodeAction(const std::string& node, NodeInput input, const std::string& reason,
                                   int64_t now_wall_ms) {
  LiveNode& live = Find(node);
  const bool changed = Apply(live, input, reason, true, now_wall_ms);
  if (input == NodeInput::kDrain || input == NodeInput::kIsolate) MoveJobsOff(node, input, reason, now_wall_ms);
  nlohmann::json j = ToJson(live.record);
  j["changed"] = changed;
  return j;
}

void Cluster::CheckHeartbeats(int64_t now_wall_ms, int64_t now_mono_ms) {
  if (now_mono_ms < grace_until_mono_ms_) return;
  // A switch or power failure silences many nodes at once: their transitions share one synced
  // write batch, so losing a rack costs one fsync, not one per node.
  std::vector<PendingTransition> lost;
  for (auto& [name, live] : nodes_) {
    const int64_t silent = now_mono_ms - live.last_seen_mono_ms;
    if (silent <= lost_after_ms()) continue;
    const Health h = live.record.state.health;
    if (h != Health::kHealthy && h != Health::kSuspect) continue;
    auto pending = Plan(live, NodeInput::kHeartbeatLost,
                        "no heartbeat for " + std::to_string(silent) + " ms (limit " +
                            std::to_string(options_.missed_beats) + " x " +
                            std::to_string(options_.heartbeat_interval_ms) + " ms)",
                        now_wall_ms);
    if (pending) lost.push_back(std::move(*pending));
  }
  std::vector<std::pair<std::string, std::string>> silenced;
  for (const auto& t : lost) silenced.emplace_back(t.node->record.info.name, t.updated.state.reason);
  CommitTransitions(std::move(lost), true);
  for (const auto& [name, why] : silenced) diagnosis_.NodeLost(name, why, now_mono_ms);
}

nlohmann::json Cluster::NodeJson(const LiveNode& node, int64_t now_mono_ms) const {
  nlohmann::json j = ToJson(node.record);
  const int64_t age = now_mono_ms - node.last_seen_mono_ms;
  j["heartbeat_age_ms"] = age;
  j["online"] = age <= lost_after_ms();
  j["agent_status"] = node.last_heartbeat;
  return j;
}

nlohmann::json Cluster::Nodes(int64_t now_mono_ms) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, live] : nodes_) out.push_back(NodeJson(live, now_mono_ms));
  return out;
}

nlohmann::json Cluster::Node(const std::string& name, int64_t now_mono_ms) const {
  const LiveNode& live = Find(name);
  nlohmann::json j = NodeJson(live, now_mono_ms);
  j["last_telemetry"] = live.last_telemetry ? ToJson(*live.last_telemetry) : nlohmann::json();
  nlohmann::json commands = nlohmann::json::array();
  for (const auto& c : live.commands) commands.push_back(ToJson(c));
  j["commands"] = commands;
  return j;
}

void Cluster::StoreSnapshotCatalog(const std::string& job, const nlohmann::json& saved) {
  Commit({{RecordKind::kSnapshots, job, DumpJson(saved)}}, {}, false);
}

void Cluster::StoreRecord(RecordKind kind, const std::string& key, const nlohmann::json& value, const nlohmann::json& event) {
  std::vector<nlohmann::json> events;
  if (!event.is_null()) events.push_back(event);
  Commit({{kind, key, DumpJson(value)}}, events, true);
}

std::map<std::string, nlohmann::json> Cluster::StoredSnapshotCatalogs() const {
  std::map<std::string, nlohmann::json> out;
  // An unreadable record is passed on as is: restoring it fails with the job's name.
  for (const auto& [job, value] : store_->List(RecordKind::kSnapshots)) out[job] = nlohmann::json::parse(value, nullptr, false);
  return out;
}

nlohmann::json Cluster::Jobs() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, job] : jobs_) out.push_back(ToJson(job));
  return out;
}

nlohmann::json Cluster::Job(const std::string& id) const {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) throw ApiError(404, "unknown job '" + id + "'");
  return ToJson(it->second);
}

const JobRecord* Cluster::FindJob(const std::string& id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

nlohmann::json Cluster::Incidents() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, value] : store_->List(RecordKind::kIncidents)) out.push_back(nlohmann::json::parse(value));
  return out;
}

nlohmann::json Cluster::Incident(const std::string& id) const {
  auto value = store_->Get(RecordKind::kIncidents, id);
  if (!value) throw ApiError(404, "unknown incident '" + id + "'");
  return nlohmann::json::parse(*value);
}

nlohmann::json Cluster::Events(uint64_t after, size_t limit) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : store_->EventsAfter(after, limit)) {
    nlohmann::json j = nlohmann::json::parse(e.body);
    j["id"] = e.id;
    out.push_back(std::move(j));
  }
  return out;
}

std::map<std::string, size_t> Cluster::CountByHealth() const {
  std::map<std::string, size_t> counts;
  for (Health h : {Health::kHealthy, Health::kSuspect, Health::kIsolated, Health::kLost}) counts[HealthName(h)] = 0;
  for (const auto& [name, live] : nodes_) ++counts[HealthName(live.record.state.health)];
  return counts;
}

std::map<std::string, size_t> Cluster::CountJobsByState() const {
  std::map<std::string, size_t> counts;
  for (const auto& [id, job] : jobs_) ++counts[job.state];
  return counts;
}

size_t Cluster::online_nodes(int64_t now_mono_ms) const {
  size_t n = 0;
  for (const auto& [name, live] : nodes_) n += (now_mono_ms - live.last_seen_mono_ms) <= lost_after_ms();
  return n;
}

nlohmann::json Cluster::Summary(int64_t now_mono_ms) const {
  size_t spares = 0, drained = 0, available_spares = 0;
  for (const auto& [name, live] : nodes_) {
    const auto& s = live.record.state;
    spares += s.role == Role::kSpare;
    drained += s.drained;
    available_spares += s.role == Role::kSpare && s.health == Health::kHealthy && !s.drained;
  }
  nlohmann::json nodes = {{"total", nodes_.size()},
                          {"online", online_nodes(now_mono_ms)},
                          {"spares", spares},
                          {"spares_available", available_spares},
                          {"drained", drained}};
  for (const auto& [health, n] : CountByHealth()) nodes[health] = n;
  nlohmann::json jobs = {{"total", jobs_.size()}};
  for (const auto& [state, n] : CountJobsByState()) jobs[state] = n;
  return {{"controller_instance", instance_id_},
          {"nodes", nodes},
          {"jobs", jobs},
          {"incidents", {{"total", store_->List(RecordKind::kIncidents).size()}}},
          {"last_event_id", store_->last_event_id()},
          {"heartbeat", {{"interval_ms", options_.heartbeat_interval_ms}, {"missed_beats", options_.missed_beats}}}};
}

}  // namespace bulwark::controller
