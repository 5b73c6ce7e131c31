// Jobs: placement, launch through one agent's mpirun, and recovery (recovery.h) from a
// verdict, a failed exit, an operator's request or a drain. Every state change and every
// recovery phase is stored (with its event) before its work is sent to agents.
#include <algorithm>
#include <cstdio>

#include "common/strict_json.h"
#include "controller/cluster.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

std::string JobId(uint64_t number) {
  char id[32];
  std::snprintf(id, sizeof(id), "job-%06llu", static_cast<unsigned long long>(number));
  return id;
}

std::string FormatSpikeFactor(double f) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", f);
  return text;
}

bool Active(const JobRecord& job) { return job.state == "running" || job.state == "recovering"; }

bool Contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Verdicts that mean the job cannot go on as placed. A straggler only by the job's policy;
// imbalance, slow links and communication hangs blame no node.
bool StopsTheJob(const diagnostics::Verdict& v, const JobSpec& spec) {
  switch (v.kind) {
    case diagnostics::VerdictKind::kCrash:
    case diagnostics::VerdictKind::kNodeLost:
    case diagnostics::VerdictKind::kHang:
      return true;
    case diagnostics::VerdictKind::kStraggler:
      return spec.evict_stragglers;
    default:
      return false;
  }
}

}  // namespace

// --- operators ------------------------------------------------------------------------

json Cluster::SubmitJob(const JobSpec& spec, int64_t now_wall_ms) {
  for (const auto& [id, job] : jobs_) {
    if (job.spec.name == spec.name && (job.state == "pending" || Active(job))) {
      throw ApiError(409, "a job named '" + spec.name + "' is already " + job.state + " (" + id + ")");
    }
  }
  JobRecord job;
  job.id = JobId(next_job_number_);
  job.spec = spec;
  job.reason = "submitted: waiting for placement";
  job.created_ms = job.updated_ms = now_wall_ms;
  ++next_job_number_;
  StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.submitted"}, {"job", job.id}, {"name", spec.name}}});
  jobs_[job.id] = job;
  DriveJobs(now_wall_ms, last_mono_ms_);
  return ToJson(jobs_[job.id]);
}

json Cluster::CancelJob(const std::string& id, int64_t now_wall_ms) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) throw ApiError(404, "unknown job '" + id + "'");
  JobRecord& job = it->second;
  if (job.state == "cancelled" || job.state == "succeeded" || job.state == "failed") {
    throw ApiError(409, "job '" + id + "' is already " + job.state);
  }
  job.recovery.reset();
  SetJobState(job, "cancelled", "cancelled by an operator", now_wall_ms);
  for (const auto& node : job.placement) {
    auto n = nodes_.find(node);
    if (n != nodes_.end() && Online(n->second, last_mono_ms_)) {
      EnqueueCommand(node, {{"kind", "stop_job"}, {"args", {{"job", id}, {"attempt", job.attempt}}}}, now_wall_ms);
    }
  }
  return ToJson(job);
}

json Cluster::RecoverJob(const std::string& id, const std::string& reason, int64_t now_wall_ms) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) throw ApiError(404, "unknown job '" + id + "'");
  JobRecord& job = it->second;
  if (job.state != "running") throw ApiError(409, "job '" + id + "' is " + job.state + ": only a running job can be recovered");
  Recovery r;
  r.trigger = "operator";
  r.reason = reason.empty() ? "requested by an operator" : reason;
  r.fault_ms = now_wall_ms;
  StartRecovery(job, r, now_wall_ms);
  DriveJobs(now_wall_ms, last_mono_ms_);
  return ToJson(job);
}

// --- inputs -----------------------------------------------------------------------------

void Cluster::MoveJobsOff(const std::string& node, NodeInput input, const std::string& reason, int64_t now_wall_ms) {
  JobRecord* job = RunningJobOn(node);
  if (!job || job->state != "running") return;
  Recovery r;
  r.trigger = input == NodeInput::kDrain ? "drain" : "isolated";
  r.isolate = input != NodeInput::kDrain;
  r.culprits = {node};
  r.reason = std::string(input == NodeInput::kDrain ? "node " + node + " drained" : "node " + node + " isolated") +
             (reason.empty() ? "" : ": " + reason);
  StartRecovery(*job, r, now_wall_ms);
  DriveJobs(now_wall_ms, last_mono_ms_);
}

JobRecord* Cluster::RunningJobOn(const std::string& node) {
  for (auto& [id, job] : jobs_) {
    if (Active(job) && Contains(job.placement, node)) return &job;
  }
  return nullptr;
}

void Cluster::JobVerdict(const diagnostics::Verdict& v, const std::string& incident, int64_t now_wall_ms) {
  if (!v.blames_node()) return;
  for (const auto& node : v.nodes) {
    JobRecord* job = RunningJobOn(node);
    if (!job || !StopsTheJob(v, job->spec)) continue;
    const std::string why = std::string(diagnostics::VerdictKindName(v.kind)) + " on " + node + ": " + v.evidence;
    if (job->state == "running") {
      Recovery r;
      r.trigger = "verdict";
      r.culprits = {node};
      r.reason = why;
      r.incident = incident;
      r.fault_ms = v.detail.value("event_ms", int64_t{0});  // a crash: when the agent saw the rank go
      StartRecovery(*job, r, now_wall_ms);
      continue;
    }
    // Recovering. Before the relaunch, rank deaths are the echo of the job being stopped,
    // and a node lost meanwhile needs nothing here: the spare phase replaces every node of
    // the placement that is not healthy.
    Recovery& r = *job->recovery;
    if (r.phase != RecoveryPhase::kRestore) continue;
    // A second fault while the relaunched job restores: recover again, this node fenced too.
    Recovery again = r;
    again.trigger = "verdict";
    again.reason = "during recovery: " + why;
    again.incident = incident;
    if (!Contains(again.culprits, node)) again.culprits.push_back(node);
    again.marks.clear();
    again.fault_ms = 0;
    StartRecovery(*job, again, now_wall_ms);
  }
  DriveJobs(now_wall_ms, last_mono_ms_);
}

void Cluster::JobAgentEvent(const std::string& node, const json& event, int64_t now_wall_ms) {
  const json& d = event["detail"];
  auto it = jobs_.find(d.value("job", std::string()));
  if (it == jobs_.end()) return;
  JobRecord& job = it->second;
  if (d.value("attempt", -1) != job.attempt) return;  // an older launch: stale
  const std::string kind = event["kind"];
  const int64_t at = event.value("time_ms", now_wall_ms);
  if (kind == "agent.job.anomaly") {
    JobAnomaly(job, node, d, now_wall_ms);
  } else if (kind == "agent.job.exited") {
    const int code = d.value("exit_code", -1), signal = d.value("signal", 0);
    job.result = {{"exit_code", code}, {"signal", signal}, {"node", node}, {"log", d.value("log", "")},
                  {"last", d.value("last", json())}};
    if (job.state == "running" && code == 0) {
      SetJobState(job, "succeeded", "the job exited with code 0", now_wall_ms);
    } else if (Active(job)) {
      // Usually a verdict follows within a moment and names the node; if none does, the
      // job is recovered where it is (DriveJobs).
      JobRuntime& rt = job_runtime_[job.id];
      rt.failed_exit_mono_ms = last_mono_ms_;
      rt.failed_exit_reason = signal ? "the launch was killed by signal " + std::to_string(signal)
                                     : "the job exited with code " + std::to_string(code);
      // mpirun names the first rank that died. It is the only witness to a rank that died
      // before its hook registered (in MPI_Init or its restore), so no verdict will come.
      const json died = d.value("rank_died", json());
      rt.failed_exit_node.clear();
      if (died.is_object() && died.value("node", json()).is_string() && Contains(job.placement, died["node"].get<std::string>())) {
        rt.failed_exit_node = died["node"];
        rt.failed_exit_reason += "; mpirun saw rank " + died.value("rank", json()).dump() + " on " + rt.failed_exit_node +
                                 " die first, of signal " + died.value("signal", json()).dump();
      }
      StoreJob(job, {});
    }
  } else if (job.state == "recovering" && job.recovery->phase == RecoveryPhase::kRestore) {
    if (kind == "agent.job.restored" && !MarkTime(*job.recovery, "restored")) {
      job.recovery->marks.emplace_back("restored", at);
      const json step = d.value("step", json());
      job.recovery->restored_step = step.is_number_integer() ? step.get<int64_t>() : 0;  // null: nothing restored
      StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.recovery"}, {"job", job.id}, {"phase", "restored"},
                      {"step", d.value("step", json())}}});
    } else if (kind == "agent.job.first_step") {
      job.recovery->marks.emplace_back("first_step", at);
      job.result["first_step"] = d;
      FinishRecovery(job, now_wall_ms);
    }
  }
}

// The trainer rolled back from an anomalous step by itself (trainer/anomaly.h); the
// controller records it as a noted incident and keeps the skipped batches, so a later
// relaunch from an older recovery point does not train on them again.
void Cluster::JobAnomaly(JobRecord& job, const std::string& node, const json& d, int64_t now_wall_ms) {
  for (const auto& b : d.value("skipped_batches", json::array())) {
    if (!b.is_number_integer()) continue;
    const int64_t batch = b.get<int64_t>();
    auto at = std::lower_bound(job.skip_batches.begin(), job.skip_batches.end(), batch);
    if (at == job.skip_batches.end() || *at != batch) job.skip_batches.insert(at, batch);
  }
  auto number = [&](const char* key) {
    const json& v = d.contains(key) ? d[key] : json();
    char text[32];
    std::snprintf(text, sizeof(text), "%.4g", v.is_number() ? v.get<double>() : 0.0);
    return v.is_number() ? std::string(text) : std::string("NaN");
  };
  const std::string kind = d.value("anomaly", std::string("anomaly"));
  diagnostics::Verdict v;
  v.kind = diagnostics::VerdictKind::kTrainingAnomaly;
  v.time_ms = last_mono_ms_;
  v.confidence = 1.0;  // the trainer's own numbers
  v.evidence = "job " + job.id + " step " + std::to_string(d.value("step", int64_t{0})) + ": " +
               (kind == "nan" ? "loss " + number("loss") + ", gradient norm " + number("grad_norm") + " (not finite)"
                              : "loss " + number("loss") + " against a median of " + number("median_loss") +
                                    " (over " + FormatSpikeFactor(job.spec.loss_spike_factor) + "x)") +
               "; rolled back to step " + std::to_string(d.value("rolled_back_to", int64_t{0})) + " from " +
               d.value("from", std::string("?")) + ", skipping batches " + d.value("skipped_batches", json::array()).dump();
  v.detail = d;
  v.detail["node"] = node;
  ++counters_.verdicts;
  const std::string incident = OpenIncident(v, now_wall_ms);
  json entry = d;
  entry.erase("job");
  entry["time_ms"] = now_wall_ms;
  entry["incident"] = incident;
  job.anomalies.push_back(entry);
  StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.anomaly"}, {"job", job.id}, {"anomaly", kind},
                  {"step", d.value("step", json())}, {"incident", incident}, {"skip_batches", job.skip_batches}}});
}

void Cluster::JobCommandDone(const Command& c, int64_t now_wall_ms) {
  auto it = jobs_.find(c.args.value("job", std::string()));
  if (it == jobs_.end()) return;
  JobRecord& job = it->second;
  JobRuntime& rt = job_runtime_[job.id];
  if (c.kind == "stop_job" || c.kind == "pause_job") {
    rt.stop_waits.erase(c.id);
  } else if (c.kind == "launch_job" && c.id == rt.launch_command) {
    const bool ok = c.state == "succeeded";
    const std::string error = c.result.is_object() ? c.result.value("error", std::string()) : std::string();
    if (job.state == "pending" || (job.state == "running" && !job.recovery)) {
      if (ok) SetJobState(job, "running", "launched by " + c.node + " on " + std::to_string(job.placement.size()) + " nodes", now_wall_ms);
      else SetJobState(job, "failed", "the launch on " + c.node + " failed: " + error, now_wall_ms);
    } else if (job.state == "recovering" && job.recovery->phase == RecoveryPhase::kRelaunch) {
      if (ok) {
        job.recovery->marks.emplace_back("launched", now_wall_ms);
        EnterPhase(job, RecoveryPhase::kRestore, now_wall_ms);
      } else {
        SetJobState(job, "failed", "the relaunch on " + c.node + " failed: " + error, now_wall_ms);
      }
    }
  }
  DriveJobs(now_wall_ms, last_mono_ms_);
}

// --- the loop ---------------------------------------------------------------------------

void Cluster::DriveJobs(int64_t now_wall_ms, int64_t now_mono_ms) {
  last_mono_ms_ = std::max(last_mono_ms_, now_mono_ms);
  for (auto& [id, job] : jobs_) {
    JobRuntime& rt = job_runtime_[id];
    if (job.state == "pending" && !rt.launch_command) {
      // Placed and sent before a controller restart: send the launch again (it replaces
      // whatever the older attempt started).
      if (job.placement.empty()) TryPlace(job, now_wall_ms, now_mono_ms);
      else SendLaunch(job, std::nullopt, now_wall_ms);
    } else if (job.state == "running") {
      // A node lost, or isolated by an incident or an operator, cannot keep the job.
      for (const auto& name : job.placement) {
        const LiveNode& node = Find(name);
        const bool isolated = node.record.state.health == Health::kIsolated;
        if (Online(node, now_mono_ms) && !isolated) continue;
        Recovery r;
        r.trigger = isolated ? "isolated" : "node_lost";
        r.culprits = {name};
        r.reason = isolated ? "node " + name + " was isolated: " + node.record.state.reason
                            : "node " + name + " stopped answering (heartbeats lost)";
        StartRecovery(job, r, now_wall_ms);
        break;
      }
      if (job.state == "running" && rt.failed_exit_mono_ms &&
          now_mono_ms - rt.failed_exit_mono_ms >= options_.unattributed_exit_wait_ms) {
        Recovery r;
        r.trigger = "exit";
        if (rt.failed_exit_node.empty()) {
          r.reason = rt.failed_exit_reason + "; no verdict names a node: restarting in place";
        } else {
          r.culprits = {rt.failed_exit_node};
          r.reason = rt.failed_exit_reason + "; no verdict names a node, so mpirun's is fenced";
        }
        StartRecovery(job, r, now_wall_ms);
      }
    }
    if (job.state == "recovering") AdvanceRecovery(job, now_wall_ms, now_mono_ms);
  }
}

void Cluster::TryPlace(JobRecord& job, int64_t now_wall_ms, int64_t now_mono_ms) {
  json placed_event = {{"time_ms", now_wall_ms}, {"kind", "job.placed"}, {"job", job.id}};
  Status failed = Status::Ok();
  if (job.spec.model.set) {  // by NIC: the stages' data-parallel groups inside one class
    auto placed = PlaceModelJob(job.spec, options_.nic_fabric, FreeNodes(now_mono_ms));
    if (placed.ok()) {
      job.placement = placed->nodes;
      job.stage_layers = placed->stage_layers;
      placed_event["stage_layers"] = job.stage_layers;
      placed_event["modelled_iteration_s"] = placed->iteration_s;
      placed_event["rank_order_iteration_s"] = placed->rank_order_s;
    } else {
      failed = placed.status();
    }
  } else {
    auto placed = PlaceJob(job.spec.nodes, job.spec.nic_class, FreeNodes(now_mono_ms));
    if (placed.ok()) job.placement = placed.value();
    else failed = placed.status();
  }
  if (!failed.ok()) {
    const std::string reason = "waiting for nodes: " + failed.message();
    if (job.reason != reason) SetJobState(job, "pending", reason, now_wall_ms);
    return;
  }
  placed_event["nodes"] = job.placement;
  StoreJob(job, {placed_event});
  SendLaunch(job, std::nullopt, now_wall_ms);
}

void Cluster::SendLaunch(JobRecord& job, std::optional<uint64_t> restore_step, int64_t now_wall_ms) {
  std::vector<NodeInfo> infos;
  for (const auto& n : job.placement) infos.push_back(Find(n).record.info);
  ++job.attempt;
  const std::vector<std::string> argv = BuildLaunchArgv(options_.launch, job, infos, restore_step);
  // The job's first node launches it: it is healthy and it runs the job's first ranks.
  const std::string launcher = job.placement.front();
  StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.launch"}, {"job", job.id}, {"attempt", job.attempt},
                  {"launcher", launcher}, {"nodes", job.placement},
                  {"restore_step", restore_step ? json(*restore_step) : json()}}});
  const Command c = EnqueueCommand(
      launcher, {{"kind", "launch_job"}, {"args", {{"job", job.id}, {"attempt", job.attempt}, {"argv", argv}}}}, now_wall_ms);
  if (job.attempt > 1) diagnosis_.Relaunched(last_mono_ms_);
  JobRuntime& rt = job_runtime_[job.id];
  rt.launch_command = c.id;
  rt.failed_exit_mono_ms = 0;
  rt.failed_exit_node.clear();
  if (on_launch_) on_launch_(job, now_wall_ms);
}

// --- recovery -------------------------------------------------------------------------

void Cluster::StartRecovery(JobRecord& job, Recovery r, int64_t now_wall_ms) {
  job_runtime_[job.id] = JobRuntime{};
  job_runtime_[job.id].started_here = true;
  // The budget counts faults; planned moves (a drain, an operator's recover) do not spend it.
  const bool planned = r.trigger == "drain" || r.trigger == "operator";
  if (!planned && job.restarts >= job.spec.restart_budget) {
    job.recovery.reset();
    SetJobState(job, "failed",
                "restart budget of " + std::to_string(job.spec.restart_budget) + " spent; last fault: " + r.reason,
                now_wall_ms);
    for (const auto& node : job.placement) {
      auto n = nodes_.find(node);
      if (n != nodes_.end() && Online(n->second, last_mono_ms_)) {
        EnqueueCommand(node, {{"kind", "stop_job"}, {"args", {{"job", job.id}, {"attempt", job.attempt}}}}, now_wall_ms);
      }
    }
    return;
  }
  if (!planned) ++job.restarts;
  r.phase = RecoveryPhase::kFence;
  r.from_attempt = job.attempt;
  r.detected_ms = now_wall_ms;
  if (r.fault_ms <= 0 || r.fault_ms > now_wall_ms) r.fault_ms = now_wall_ms;
  r.marks.emplace_back("fence", now_wall_ms);
  job.recovery = r;
  SetJobState(job, "recovering", r.reason, now_wall_ms,
              {{"restart", job.restarts}, {"budget", job.spec.restart_budget}, {"culprits", r.culprits},
               {"trigger", r.trigger}, {"incident", r.incident}});
}

void Cluster::EnterPhase(JobRecord& job, RecoveryPhase phase, int64_t now_wall_ms) {
  Recovery& r = *job.recovery;
  r.phase = phase;
  r.waiting_for.clear();
  if (!MarkTime(r, RecoveryPhaseName(phase))) r.marks.emplace_back(RecoveryPhaseName(phase), now_wall_ms);
  job_runtime_[job.id].phase_started = false;
  job.updated_ms = now_wall_ms;
  StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.recovery"}, {"job", job.id}, {"phase", RecoveryPhaseName(phase)}}});
}

void Cluster::AdvanceRecovery(JobRecord& job, int64_t now_wall_ms, int64_t now_mono_ms) {
  JobRuntime& rt = job_runtime_[job.id];
  const bool first = !rt.phase_started;
  if (first) {
    rt.phase_started = true;
    rt.phase_started_mono_ms = now_mono_ms;
  }
  const int64_t in_phase_ms = now_mono_ms - rt.phase_started_mono_ms;
  Recovery& r = *job.recovery;
  const std::string why = "recovery of " + job.id + ": " + r.reason;
  switch (r.phase) {
    case RecoveryPhase::kFence: {
      for (const auto& name : r.culprits) {
        auto n = nodes_.find(name);
        // A recovery started over keeps its first culprits, fenced and out of the placement:
        // fencing them again would isolate a node readmitted since, even one placed again
        // as a spare (seen in the soak).
        if (n == nodes_.end() || !Contains(job.placement, name) || Contains(r.fenced, name)) continue;
        Apply(n->second, r.isolate ? NodeInput::kIsolate : NodeInput::kDrain, why, true, now_wall_ms);
        r.fenced.push_back(name);
      }
      EnterPhase(job, RecoveryPhase::kStop, now_wall_ms);
      return AdvanceRecovery(job, now_wall_ms, now_mono_ms);
    }
    case RecoveryPhase::kStop: {
      // A planned stop (drain, an operator's recover) loses no finished step: the ranks are
      // frozen first, and stopped once the newest step they all hold is protected.
      const bool planned = r.trigger == "drain" || r.trigger == "operator";
      auto send = [&](const std::string& kind) {
        for (const auto& name : job.placement) {
          auto n = nodes_.find(name);
          if (n == nodes_.end() || !Online(n->second, now_mono_ms)) continue;  // a lost node runs nothing we can reach
          // Up to the failed attempt: delivered late, it must not stop the relaunch.
          json args = {{"job", job.id}, {"wait_ms", 3000}, {"attempt", job.attempt}};
          // A node leaving the job drops its ranks' snapshot memory: the replacement rebuilds
          // that shard from peers and must be the member's only holder from then on.
          if (kind == "stop_job" && Contains(r.culprits, name)) args["forget_snapshots"] = true;
          const Command c = EnqueueCommand(name, {{"kind", kind}, {"args", args}}, now_wall_ms);
          rt.stop_waits[c.id] = name;
        }
      };
      if (first) {
        rt.pausing = planned;
        send(planned ? "pause_job" : "stop_job");
      }
      for (auto it = rt.stop_waits.begin(); it != rt.stop_waits.end();) {
        auto n = nodes_.find(it->second);
        it = (n == nodes_.end() || !Online(n->second, now_mono_ms)) ? rt.stop_waits.erase(it) : std::next(it);
      }
      if (!rt.stop_waits.empty() && in_phase_ms < options_.stop_timeout_ms) {
        r.waiting_for = std::to_string(rt.stop_waits.size()) + " nodes to " + (rt.pausing ? "freeze" : "stop") +
                        " the job's ranks";
        return;
      }
      if (rt.pausing) {
        const SnapshotProgress progress = snapshots_ ? snapshots_(job.id) : SnapshotProgress{};
        const bool caught_up = !progress.newest_held || progress.recovery_point >= progress.newest_held;
        if (!caught_up && in_phase_ms < options_.catalog_wait_ms) {
          r.waiting_for = "step " + std::to_string(*progress.newest_held) + " to be protected before the ranks stop";
          return;
        }
        r.marks.emplace_back(caught_up ? "frozen at a protected step" : "frozen; protection did not catch up in time",
                             now_wall_ms);
        rt.pausing = false;
        send("stop_job");
        rt.phase_started_mono_ms = now_mono_ms;
        return;
      }
      EnterPhase(job, RecoveryPhase::kSpare, now_wall_ms);
      return AdvanceRecovery(job, now_wall_ms, now_mono_ms);
    }
    case RecoveryPhase::kSpare: {
      std::vector<PlacementCandidate> free = FreeNodes(now_mono_ms);
      std::vector<std::string> placement = job.placement, domains, missing;
      std::vector<int> replaced;               // positions in the placement
      std::vector<std::string> replacements;  // marked once the phase goes on, not on every wait
      for (const auto& name : placement) domains.push_back(Find(name).record.info.rack);
      for (auto& name : placement) {
        const LiveNode& node = Find(name);
        const bool usable = node.record.state.health == Health::kHealthy && !node.record.state.drained &&
                            Online(node, now_mono_ms) && !Contains(r.culprits, name);
        if (usable) continue;
        auto chosen = ChooseReplacement(job.spec.nic_class, node.record.info.rack, domains, free,
                                        ModelledWith(job, placement, static_cast<size_t>(&name - placement.data())));
        if (!chosen) {
          missing.push_back(name);
          continue;
        }
        free.erase(std::remove_if(free.begin(), free.end(), [&](const auto& c) { return c.name == *chosen; }), free.end());
        replacements.push_back("replaced " + name + " with " + *chosen);
        replaced.push_back(static_cast<int>(&name - placement.data()));
        name = *chosen;
      }
      const bool can_shrink = job.spec.spare_policy == "shrink" && missing.size() < placement.size() &&
                              snapshots_ && snapshots_(job.id).recovery_point;
      if (missing.empty() || can_shrink) {
        for (auto& what : replacements) r.marks.emplace_back(std::move(what), now_wall_ms);
      }
      if (!missing.empty() && can_shrink) {
        // No replacement: go on with the nodes left; the ranks reshard the snapshot.
        std::vector<int> dropped;
        for (size_t i = 0; i < placement.size(); ++i) {
          if (Contains(missing, placement[i])) dropped.push_back(static_cast<int>(i));
        }
        r.reshard = PlanShrink(r.reshard, static_cast<int>(placement.size()), job.spec.ranks_per_node, dropped);
        std::erase_if(placement, [&](const std::string& n) { return Contains(missing, n); });
        std::string names;
        for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
        r.marks.emplace_back("no spare for " + names + ": shrank to " + std::to_string(placement.size()) + " nodes", now_wall_ms);
        missing.clear();
      }
      if (!missing.empty()) {
        // "wait", or a shrink with nothing protected to reshard (or no node left).
        const std::string waiting = "a free healthy node with NIC class '" + job.spec.nic_class + "' to replace " +
                                    missing.front() + (missing.size() > 1 ? " and others" : "");
        if (r.waiting_for != waiting) {
          r.waiting_for = waiting;
          StoreJob(job, {{{"time_ms", now_wall_ms}, {"kind", "job.recovery"}, {"job", job.id}, {"phase", "spare"},
                          {"waiting_for", waiting}}});
        }
        return;
      }
      job.placement = placement;
      // The replacements start rebuilding their shards from peers now, in parallel with the
      // relaunch (the recovery point cannot move: every rank is stopped).
      const std::optional<uint64_t> point = snapshots_ ? snapshots_(job.id).recovery_point : std::nullopt;
      // After a shrink the ranks read old ranks by the reshard plan instead (their agents
      // rebuild what is missing when asked).
      for (int i : point && !r.reshard ? replaced : std::vector<int>{}) {
        EnqueueCommand(placement[i], {{"kind", "prefetch_snapshot"},
                                      {"args", {{"job", job.id}, {"rank", i * job.spec.ranks_per_node}, {"step", *point}}}},
                       now_wall_ms);
      }
      EnterPhase(job, RecoveryPhase::kRelaunch, now_wall_ms);
      return AdvanceRecovery(job, now_wall_ms, now_mono_ms);
    }
    case RecoveryPhase::kRelaunch: {
      if (rt.launch_command) return;  // sent: the launch command's result moves it on
      std::optional<uint64_t> point = snapshots_ ? snapshots_(job.id).recovery_point : std::nullopt;
      if (!point && !rt.started_here && in_phase_ms < options_.catalog_wait_ms) {
        // Resumed after a controller restart: the catalog is rebuilt from the agents' reports.
        r.waiting_for = "the snapshot catalog to know the job's recovery point";
        return;
      }
      r.restore_step = point;
      r.marks.emplace_back(point ? "recovery point " + std::to_string(*point) : "no recovery point: from the start",
                           now_wall_ms);
      SendLaunch(job, point, now_wall_ms);
      return;
    }
    case RecoveryPhase::kRestore: {
      if (in_phase_ms >= options_.restore_timeout_ms) {
        Recovery again = r;  // nothing new is blamed; the culprits fenced stay fenced, and are not fenced again
        again.reason = "no step within " + std::to_string(options_.restore_timeout_ms / 1000) + " s of the relaunch";
        again.marks.clear();
        again.fault_ms = 0;
        StartRecovery(job, again, now_wall_ms);
        return;
      }
      // A relaunched rank that dies before its hook registered leaves no verdict: mpirun's
      // word on which one died first is all there is, and waiting for more gains nothing.
      const bool named = !rt.failed_exit_node.empty();
      if (rt.failed_exit_mono_ms && (named || now_mono_ms - rt.failed_exit_mono_ms >= options_.unattributed_exit_wait_ms)) {
        Recovery again = r;  // the culprits fenced stay fenced, and are not fenced again
        again.trigger = "exit";
        if (named && !Contains(again.culprits, rt.failed_exit_node)) again.culprits.push_back(rt.failed_exit_node);
        again.reason = "during recovery: " + rt.failed_exit_reason;
        again.marks.clear();
        again.fault_ms = 0;
        StartRecovery(job, again, now_wall_ms);
      }
      return;
    }
  }
}

void Cluster::FinishRecovery(JobRecord& job, int64_t now_wall_ms) {
  Recovery& r = *job.recovery;
  json done = ToJson(r);
  done["attempt"] = job.attempt;
  done["placement"] = job.placement;
  job.recoveries.push_back(done);
  while (job.recoveries.size() > 20) job.recoveries.erase(job.recoveries.begin());
  const json mttr = MttrBreakdown(r);
  const std::string restored = r.restore_step ? "step " + std::to_string(*r.restore_step) : "the start";
  job.recovery.reset();
  SetJobState(job, "running", "recovered from " + restored + " in " + std::to_string(mttr.value("total", int64_t{0})) + " ms",
              now_wall_ms, {{"mttr_ms", mttr}});
}

// --- helpers --------------------------------------------------------------------------

void Cluster::SetJobState(JobRecord& job, const std::string& state, const std::string& reason, int64_t now_wall_ms,
                          json extra_event) {
  const std::string before = job.state;
  job.state = state;
  job.reason = reason;
  job.updated_ms = now_wall_ms;
  json event = {{"time_ms", now_wall_ms}, {"kind", "job.state"}, {"job", job.id}, {"from", before}, {"to", state},
                {"reason", reason}};
  if (extra_event.is_object()) event.update(extra_event);
  StoreJob(job, {event});
}

void Cluster::StoreJob(const JobRecord& job, const std::vector<json>& events) {
  Commit({{RecordKind::kJobs, job.id, DumpJson(ToJson(job))}}, events, true);
}

bool Cluster::Online(const LiveNode& node, int64_t now_mono_ms) const {
  if (node.record.state.health == Health::kLost) return false;
  // After a controller restart agents get the same grace CheckHeartbeats gives them.
  return now_mono_ms - node.last_seen_mono_ms <= lost_after_ms() || now_mono_ms < grace_until_mono_ms_;
}

std::function<double(const PlacementCandidate&)> Cluster::ModelledWith(const JobRecord& job,
                                                                       const std::vector<std::string>& placement,
                                                                       size_t position) const {
  const bool modelled = job.spec.model.set && static_cast<int>(placement.size()) == job.spec.nodes &&
                        static_cast<int>(job.stage_layers.size()) == job.spec.model.pipeline_stages;
  if (!modelled) return {};  // no model, or a shrunk job whose shape the model no longer fits
  return [this, &job, placement, position](const PlacementCandidate& c) {
    std::vector<std::pair<std::string, std::string>> nodes;
    for (size_t i = 0; i < placement.size(); ++i) {
      if (i == position) nodes.emplace_back(c.name, FastestNicClass(c.nic_types));
      else nodes.emplace_back(placement[i], FastestNicClass(NicTypes(placement[i])));
    }
    return ModelledIteration(job.spec, options_.nic_fabric, nodes, job.stage_layers);
  };
}

std::vector<std::string> Cluster::NicTypes(const std::string& name) const {
  std::vector<std::string> types;
  for (const auto& nic : Find(name).record.info.nics) types.push_back(nic.type);
  return types;
}

std::vector<PlacementCandidate> Cluster::FreeNodes(int64_t now_mono_ms) const {
  std::set<std::string> busy;
  for (const auto& [id, job] : jobs_) {
    if (Active(job) || (job.state == "pending" && job.attempt > 0)) busy.insert(job.placement.begin(), job.placement.end());
  }
  std::vector<PlacementCandidate> out;
  for (const auto& [name, node] : nodes_) {
    const NodeState& s = node.record.state;
    if (s.health != Health::kHealthy || s.drained || busy.count(name) || !Online(node, now_mono_ms)) continue;
    PlacementCandidate c{name, node.record.info.rack, {}, s.role == Role::kSpare};
    for (const auto& nic : node.record.info.nics) c.nic_types.push_back(nic.type);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace bulwark::controller
