// A job as submitted (JobSpec) and as the controller tracks it (JobRecord). Issue 7 adds
// placement and launching; today a job is recorded, listed and cancelled.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark::controller {

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
};

nlohmann::json ToJson(const JobRecord& job);
JobRecord JobRecordFromJson(const nlohmann::json& j);

}  // namespace bulwark::controller
