// The controller's model of the cluster: nodes with their health, jobs, commands queued for
// agents, and the event log. Durable parts live in the StateStore; heartbeats, telemetry
// and commands live in memory (after a restart every node gets a fresh grace period to
// check in, and agents re-register).
//
// Not thread-safe: the controller calls it from its one I/O thread. Operations that the
// caller got wrong throw ApiError with the HTTP status and a message naming the problem.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/telemetry.h"
#include "diagnostics/trace.h"
#include "controller/job.h"
#include "controller/launch_command.h"
#include "controller/placement.h"
#include "controller/node.h"
#include "controller/node_health.h"
#include "controller/state_store.h"

namespace bulwark::controller {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct ClusterOptions {
  int64_t heartbeat_interval_ms = 1000;
  int missed_beats = 3;  // this many intervals without a heartbeat: the node is lost
  // After a controller (re)start no node is declared lost for this long: agents that
  // backed off while it was away need time to come back.
  int64_t restart_grace_ms = 15000;
  size_t commands_kept_per_node = 64;
  diagnostics::EngineOptions diagnosis;
  std::string diagnosis_trace;  // append every diagnosis input here (record/replay); "" = off
  double link_slow_fraction = 0.5;  // the probe matrix's threshold (diagnostics/link_matrix.h)
  LaunchSettings launch;        // how jobs are launched (cluster_jobs.cpp)
  // A job whose launch exits with an error and no verdict names a node within this long is
  // recovered in place (a software fault: nothing to fence).
  int64_t unattributed_exit_wait_ms = 2000;
  int64_t stop_timeout_ms = 10000;       // stop phase: nodes that do not confirm by then are ignored
  int64_t catalog_wait_ms = 10000;       // relaunch: how long to wait for the snapshot catalog to know the job
  int64_t restore_timeout_ms = 300000;   // restore phase: no first step by then is a failed attempt
  // The NIC classes' speeds for placing jobs with a model (config `placement:`).
  netplan::NicFabric nic_fabric{netplan::DefaultNicClasses(), "ethernet"};
};

struct Command {
  uint64_t id = 0;
  std::string node;
  std::string kind;  // self_check, start_ranks, stop_ranks, report_status
  nlohmann::json args = nlohmann::json::object();
  std::string state = "queued";  // queued, delivered, succeeded, failed
  nlohmann::json result;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};
nlohmann::json ToJson(const Command& c);

// Counters for /metrics.
struct ClusterCounters {
  uint64_t registrations = 0;
  uint64_t heartbeats = 0;
  uint64_t telemetry_batches = 0;
  uint64_t telemetry_rank_records = 0;
  uint64_t agent_events = 0;
  uint64_t commands = 0;
  uint64_t verdicts = 0;
};

class Cluster {
 public:
  Cluster(StateStore* store, ClusterOptions options, std::string instance_id);

  // Loads nodes and jobs from the store; every node starts its heartbeat clock at now.
  void Load(int64_t now_mono_ms);

  // --- agents -------------------------------------------------------------------------
  nlohmann::json Register(const NodeInfo& info, int64_t now_wall_ms, int64_t now_mono_ms);
  nlohmann::json Heartbeat(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms,
                           int64_t now_mono_ms);
  // The body as agents send it (see common/telemetry.h); parsed without building a JSON tree.
  void Telemetry(const std::string& node, const std::string& body, int64_t now_wall_ms, int64_t now_mono_ms);
  void AgentEvents(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms, int64_t now_mono_ms);
  std::vector<Command> CommandsAfter(const std::string& node, uint64_t after) const;
  void CommandResult(const std::string& node, uint64_t id, const nlohmann::json& body, int64_t now_wall_ms);

  // --- operators ----------------------------------------------------------------------
  nlohmann::json NodeAction(const std::string& node, NodeInput input, const std::string& reason,
                            int64_t now_wall_ms);
  Command EnqueueCommand(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms);
  nlohmann::json GetCommand(const std::string& node, uint64_t id) const;
  nlohmann::json SubmitJob(const JobSpec& spec, int64_t now_wall_ms);
  nlohmann::json CancelJob(const std::string& id, int64_t now_wall_ms);
  // Restarts a running job from its recovery point without a fault (nothing is fenced).
  nlohmann::json RecoverJob(const std::string& id, const std::string& reason, int64_t now_wall_ms);

  nlohmann::json Summary(int64_t now_mono_ms) const;
  nlohmann::json Nodes(int64_t now_mono_ms) const;
  nlohmann::json Node(const std::string& name, int64_t now_mono_ms) const;
  nlohmann::json Jobs() const;
  nlohmann::json Job(const std::string& id) const;
  const JobRecord* FindJob(const std::string& id) const;  // null when unknown
  nlohmann::json Incidents() const;
  // Per live communicator, the ranks' lateness in its newest collectives (diagnostics::Engine).
  nlohmann::json Lateness() const { return diagnosis_.LatenessJson(); }
  nlohmann::json Incident(const std::string& id) const;
  nlohmann::json Events(uint64_t after, size_t limit) const;
  uint64_t last_event_id() const { return store_->last_event_id(); }

  // The snapshot catalog's state per job, kept for the next controller instance: a culprit
  // forgets its ranks' slots when fenced, so after a restart the agents' reports alone no
  // longer show that its ranks were protected (and the relaunch would start from scratch).
  void StoreSnapshotCatalog(const std::string& job, const nlohmann::json& saved);
  std::map<std::string, nlohmann::json> StoredSnapshotCatalogs() const;

  // Records of kinds the cluster model does not hold itself (injections), stored with their
  // event (none when `event` is null) in one batch; throws ApiError 503 when the store fails.
  void StoreRecord(RecordKind kind, const std::string& key, const nlohmann::json& value, const nlohmann::json& event);
  std::vector<std::pair<std::string, std::string>> StoredRecords(RecordKind kind) const { return store_->List(kind); }
  // --- time ---------------------------------------------------------------------------
  // Marks nodes lost whose heartbeats stopped. Call it a few times per interval.
  void CheckHeartbeats(int64_t now_wall_ms, int64_t now_mono_ms);
  // Lets diagnosis conclude (cluster_incidents.cpp): each verdict opens an incident; one that
  // blames a node makes it suspect and asks it for a self-check, whose result confirms the
  // verdict (the node is isolated) or not (back to healthy). Call it a few times a second.
  void Diagnose(int64_t now_wall_ms, int64_t now_mono_ms);
  // Launches pending jobs and moves recoveries through their phases (cluster_jobs.cpp).
  // Call it a few times a second; events and command results also move them at once.
  void DriveJobs(int64_t now_wall_ms, int64_t now_mono_ms);
  // Where recoveries read a job's snapshot progress (the snapshot catalog).
  struct SnapshotProgress {
    std::optional<uint64_t> recovery_point;  // newest step every rank has protected
    std::optional<uint64_t> newest_held;     // newest step every rank holds
  };
  void set_snapshot_source(std::function<SnapshotProgress(const std::string&)> f) { snapshots_ = std::move(f); }
  // Opens the diagnosis trace when options ask for one; an error names the file.
  Status StartDiagnosisTrace();

  // Called once a node's isolation is stored: fenced true when it became isolated, false
  // when it left isolation (readmitted). Where the controller cordons it in Kubernetes.
  void set_on_fence(std::function<void(const std::string& node, bool fenced)> f) { on_fence_ = std::move(f); }
  // An event from outside the model (the outcome of a cordon), stored like the others.
  void RecordEvent(const nlohmann::json& event) { Commit({}, {event}, false); }

  // Called after events were appended, and after a command was queued for a node.
  void set_on_events(std::function<void()> f) { on_events_ = std::move(f); }
  void set_on_command(std::function<void(const std::string&)> f) { on_command_ = std::move(f); }
  // Called once a job's launch is sent (its first and every relaunch), with its placement.
  void set_on_launch(std::function<void(const JobRecord&, int64_t now_wall_ms)> f) { on_launch_ = std::move(f); }

  const std::string& instance_id() const { return instance_id_; }
  const ClusterCounters& counters() const { return counters_; }
  std::map<std::string, size_t> CountByHealth() const;
  std::map<std::string, size_t> CountJobsByState() const;
  size_t online_nodes(int64_t now_mono_ms) const;

 private:
  struct LiveNode {
    NodeRecord record;
    int64_t last_seen_mono_ms = 0;
    nlohmann::json last_heartbeat = nlohmann::json::object();
    std::optional<TelemetryBatch> last_telemetry;  // the newest batch (diagnosis reads it from issue 6 on)
    std::deque<Command> commands;
  };

  LiveNode& Find(const std::string& node);
  const LiveNode& Find(const std::string& node) const;
  void Commit(const std::vector<RecordChange>& changes, const std::vector<nlohmann::json>& events, bool sync);
  // A transition worked out but not yet stored.
  struct PendingTransition {
    LiveNode* node;
    NodeRecord updated;
    nlohmann::json event;
  };
  // Works out what an input does to a node; nothing when it changes nothing. Throws 409 when refused.
  std::optional<PendingTransition> Plan(LiveNode& node, NodeInput input, const std::string& reason,
                                        int64_t now_wall_ms) const;
  // Stores the transitions in one write batch, then applies them in memory.
  void CommitTransitions(std::vector<PendingTransition> transitions, bool sync);
  // Applies an input; records the change and its event; returns whether it changed.
  bool Apply(LiveNode& node, NodeInput input, const std::string& reason, bool sync, int64_t now_wall_ms);
  nlohmann::json NodeJson(const LiveNode& node, int64_t now_mono_ms) const;
  int64_t lost_after_ms() const { return options_.heartbeat_interval_ms * options_.missed_beats; }
  // --- incidents (cluster_incidents.cpp) ---
  // Returns the incident's id.
  std::string OpenIncident(const diagnostics::Verdict& verdict, int64_t now_wall_ms);
  // Slow communication: asks every node of the job to measure its links to the others.
  void RequestProbeMatrix(nlohmann::json& incident, int64_t now_wall_ms);
  // The open incidents waiting for `node` (those probing links, or those waiting for
  // self-checks): each is taken off its pending list, given to `settle`, stored, and closed
  // when nothing more is pending.
  void SettleOpenIncidents(const std::string& node, bool probing, const std::function<void(nlohmann::json&)>& settle,
                           int64_t now_wall_ms);
  // One node's row of the probe matrix arrived; with every row in, classifies the links.
  void ProbesConcluded(const std::string& node, const nlohmann::json& result, int64_t now_wall_ms);
  // A self-check result on a node some open incidents wait for.
  void SelfCheckConcluded(const std::string& node, uint64_t command, bool ok, const std::string& detail,
                          int64_t now_wall_ms);
  void StoreIncident(const nlohmann::json& incident, const std::string& event_kind, int64_t now_wall_ms);
  void LoadIncidents();
  // A suspect node's self-check for an open incident is lost when the controller restarts
  // while it runs (commands live in memory, and its result then finds no command): asked
  // again when the node registers, or the suspicion never settles.
  void RequestLostSelfChecks(const std::string& node, int64_t now_wall_ms);
  // --- jobs and recoveries (cluster_jobs.cpp) ---
  // What a recovery knows only while this controller instance runs: after a restart each
  // phase's work is done again (it is idempotent), so none of this is stored.
  struct JobRuntime {
    bool started_here = false;  // false: resumed after a controller restart
    bool phase_started = false;
    int64_t phase_started_mono_ms = 0;
    std::map<uint64_t, std::string> stop_waits;  // stop_job (or pause_job) command -> node
    bool pausing = false;  // a planned stop: ranks frozen until their newest step is protected
    uint64_t launch_command = 0;
    int64_t failed_exit_mono_ms = 0;  // the launch exited with an error, no verdict yet
    std::string failed_exit_reason;
    std::string failed_exit_node;  // the node of the rank mpirun saw die first ("" none named)
  };
  void JobVerdict(const diagnostics::Verdict& v, const std::string& incident, int64_t now_wall_ms);
  void JobAnomaly(JobRecord& job, const std::string& node, const nlohmann::json& detail, int64_t now_wall_ms);
  void JobAgentEvent(const std::string& node, const nlohmann::json& event, int64_t now_wall_ms);
  void JobCommandDone(const Command& c, int64_t now_wall_ms);
  JobRecord* RunningJobOn(const std::string& node);
  // An operator drained (planned: no finished step lost) or isolated a node a job runs on.
  void MoveJobsOff(const std::string& node, NodeInput input, const std::string& reason, int64_t now_wall_ms);
  void StartRecovery(JobRecord& job, Recovery r, int64_t now_wall_ms);
  void AdvanceRecovery(JobRecord& job, int64_t now_wall_ms, int64_t now_mono_ms);
  void EnterPhase(JobRecord& job, RecoveryPhase phase, int64_t now_wall_ms);
  void FinishRecovery(JobRecord& job, int64_t now_wall_ms);
  void SetJobState(JobRecord& job, const std::string& state, const std::string& reason, int64_t now_wall_ms,
                   nlohmann::json extra_event = nullptr);
  void StoreJob(const JobRecord& job, const std::vector<nlohmann::json>& events);
  void TryPlace(JobRecord& job, int64_t now_wall_ms, int64_t now_mono_ms);
  void SendLaunch(JobRecord& job, std::optional<uint64_t> restore_step, int64_t now_wall_ms);
  bool Online(const LiveNode& node, int64_t now_mono_ms) const;
  std::vector<PlacementCandidate> FreeNodes(int64_t now_mono_ms) const;
  // For a job with a model: the modelled iteration time with a candidate at `position` of
  // `placement` (empty when the model does not apply), for ChooseReplacement.
  std::function<double(const PlacementCandidate&)> ModelledWith(const JobRecord& job, const std::vector<std::string>& placement,
                                                                size_t position) const;
  std::vector<std::string> NicTypes(const std::string& node) const;

  StateStore* store_;

  ClusterOptions options_;
  std::string instance_id_;
  std::map<std::string, LiveNode> nodes_;
  std::map<std::string, JobRecord> jobs_;
  int64_t grace_until_mono_ms_ = 0;
  uint64_t next_command_id_ = 1;
  uint64_t next_job_number_ = 1;
  uint64_t next_incident_number_ = 1;
  diagnostics::RecordingEngine diagnosis_;
  std::set<std::string> open_incidents_;  // ids of incidents waiting for self-checks or link probes
  std::map<std::string, JobRuntime> job_runtime_;
  std::function<SnapshotProgress(const std::string&)> snapshots_;
  std::function<void(const std::string&, bool)> on_fence_;
  int64_t last_mono_ms_ = 0;  // the newest monotonic time the cluster was given
  ClusterCounters counters_;
  std::function<void()> on_events_;
  std::function<void(const std::string&)> on_command_;
  std::function<void(const JobRecord&, int64_t)> on_launch_;
};

}  // namespace bulwark::controller
