// A job as submitted (JobSpec) and as the controller tracks it (JobRecord): where it runs,
// which launch attempt is current, and the recovery in progress (recovery.h), all stored so
// a controller restart picks up where it stopped.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/recovery.h"

namespace bulwark::controller {

// The collective whose flows the traffic planner (netplan/) routes for the job.
struct TrafficSpec {
  std::string collective = "allreduce";  // a netplan::CollectiveKindFromName name
  double bytes = 1 << 30;                // the buffer each rank contributes
  int channels_per_nic = 2;
  int stages = 1;  // pipeline stages, for collective: pipeline
};

// The transformer the job trains, for NIC-aware placement (netplan/placement.h): tensor
// parallelism is the node's ranks, pipeline_stages stages, nodes / pipeline_stages
// data-parallel replicas. Without it (`set` false) the job is placed in name order.
struct ModelSpec {
  bool set = false;
  int pipeline_stages = 1;
  int layers = 32;
  int hidden = 4096;
  int seq_len = 2048;
  int micro_batches = 8;
  int micro_batch_size = 1;
  double gpu_tflops = 150;
};

struct JobSpec {
  std::string name;
  std::vector<std::string> command;  // argv of one rank
  int nodes = 1;
  int ranks_per_node = 1;
  std::string nic_class = "any";  // any, ib, roce, ethernet
  int snapshot_every_steps = 1;
  int snapshot_k = 4;             // data fragments per protection group
  int snapshot_m = 1;             // parity fragments
  int spares = 1;                 // spares to keep ready for this job
  int restart_budget = 3;         // recoveries before the job is failed
  std::string spare_policy = "wait";  // no spare left: "wait" for one, or "shrink" to fewer nodes
  bool evict_stragglers = false;  // a straggler verdict restarts the job without that node
  double loss_spike_factor = 0;   // a loss above this times the recent median is an anomaly (0: NaN only)
  std::map<std::string, std::string> env;  // given to every rank (the environment contract wins)
  TrafficSpec traffic;
  ModelSpec model;
};

// Strict: unknown fields and bad values are JsonError naming the field.
JobSpec ParseJobSpec(const nlohmann::json& body);
nlohmann::json ToJson(const JobSpec& spec);

struct JobRecord {
  std::string id;  // "job-000001"
  JobSpec spec;
  std::string state = "pending";  // pending, running, recovering, succeeded, failed, cancelled
  std::string reason;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::vector<std::string> placement;  // node of each rank block, in rank order
  std::vector<int> stage_layers;       // the placement's layers per pipeline stage (a model only)
  int attempt = 0;                     // launches so far; events from older attempts are stale
  int restarts = 0;                    // recoveries started, against the restart budget
  std::optional<Recovery> recovery;    // while recovering
  nlohmann::json recoveries = nlohmann::json::array();  // finished recoveries with their timelines
  nlohmann::json result = nlohmann::json::object();     // the last line the job printed, its exit
  // Training anomalies the job rolled back from (the trainer's own lines, newest last), and
  // the data batches it skipped: every relaunch skips them too (BULWARK_SKIP_BATCHES).
  nlohmann::json anomalies = nlohmann::json::array();
  std::vector<int64_t> skip_batches;
};

nlohmann::json ToJson(const JobRecord& job);
JobRecord JobRecordFromJson(const nlohmann::json& j);

}  // namespace bulwark::controller
