// Fault-injection scenarios (`bulwarkctl scenario run FILE`, tests/scenarios/): a cluster
// shape, a job, a timed sequence of faults and what must come of each; and the judging of
// a run against them. Pure: it reads a scenario (JSON from the YAML file; errors name the
// field's path, which the caller turns into a line) and judges what the runner saw.
//
//   name: hang
//   cluster: {nodes: 4, spares: 1, heartbeat_ms: 250, missed_beats: 12, hang_ms: 6000}
//   job: {name: train, command: [...], nodes: 4, snapshot: {every_steps: 1, k: 2, m: 1}}
//   faults:
//     - {at_step: 20, kind: hang-rank, node: node-04, for: 20s,
//        expect: {verdict: hang, culprit: node-04}}
//   expect: {finished: true, digest: uninterrupted}
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bulwark::controller {

struct ScenarioFault {
  nlohmann::json injection;         // the POST /v1/injections body: kind, node, job, rank, duration…
  std::optional<uint64_t> at_step;  // when the job's recovery point reaches this step, or
  std::string during;               // when the job's recovery enters this phase ("restore"…), or
  int64_t after_ms = 0;             // this long after the previous fault (or the job's start)
  std::string verdict;              // expected verdict class ("" not checked)
  std::string culprit;              // expected blamed node ("" not checked)
  std::optional<bool> recovery = true;  // a recovery of the job must follow it, or must not (unset: either)
  std::optional<int64_t> max_steps_lost;  // at most this many steps redone (unset: not checked)
};

// Faults drawn instead of listed: exponential gaps with the given mean until `duration`,
// kinds in the proportions of `mix` (weights), each aimed at a node of the job's placement
// at the moment it strikes ("any").
struct PoissonFaults {
  int64_t mean_interval_ms = 120000;
  int64_t duration_ms = 1800000;
  uint64_t seed = 1;
  std::vector<std::pair<std::string, double>> mix;  // kind, weight
};

struct Scenario {
  std::string name;
  nlohmann::json cluster = nlohmann::json::object();  // `cluster up` options by their flag names
  nlohmann::json job;                                  // the job spec, as `job submit` takes it
  std::vector<ScenarioFault> faults;
  std::optional<PoissonFaults> poisson;  // when set, the faults are drawn (PoissonSchedule)
  bool expect_finished = true;  // the job ends succeeded (else it is cancelled when the faults end)
  double expect_ettr = 0;       // the run's ETTR must reach this (0: not checked)
  bool expect_digest = true;    // with the final digest of an uninterrupted run
  int64_t timeout_ms = 600000;  // for the whole run
};

// Throws JsonError naming the field ("faults[1].kind: …").
Scenario ParseScenario(const nlohmann::json& doc);

// The faults a Poisson scenario injects, in order, each `after` the previous one; the same
// seed gives the same schedule. Lasting kinds get a duration (a hang 30 s, a slow rank 60 s
// at +300%), the controller's death 2 s; no expectations per fault.
std::vector<ScenarioFault> PoissonSchedule(const PoissonFaults& poisson);

// What the runner saw.
struct FaultSeen {
  int64_t injected_ms = 0;                        // wall clock, when the injection was applied
  nlohmann::json record = nlohmann::json::object();  // the injection's record (or its refusal: {"error"})
};
struct RunSeen {
  std::vector<FaultSeen> faults;
  nlohmann::json job = nlohmann::json::object();        // GET /v1/jobs/{id} at the end
  nlohmann::json incidents = nlohmann::json::array();   // GET /v1/incidents at the end
  int64_t started_ms = 0, ended_ms = 0;                 // job submitted, job ended (or gave up)
  std::string reference_digest;                         // an uninterrupted run's ("" not run)
};

struct FaultResult {
  std::string kind, node;
  bool applied = false;
  std::string verdict;                  // of the first incident after it ("" none)
  std::vector<std::string> blamed;      // its nodes (no incident: its recovery's culprits)
  std::optional<int64_t> detect_ms;     // injection → incident (or recovery, where no incident)
  std::optional<int64_t> mttr_ms;       // of the recovery that followed, as the controller measures it
  std::optional<int64_t> repair_ms;     // injection → the job's first step after that recovery
  std::optional<int64_t> restored_step;  // what the ranks restored (0: nothing, they started over)
  std::optional<int64_t> steps_lost;    // steps done before the fault and done again
  std::vector<std::string> problems;    // unmet expectations, in words
};

struct RunResult {
  std::vector<FaultResult> faults;
  std::vector<std::string> problems;  // the run's own (not finished, digest differs…)
  double wall_s = 0, lost_s = 0;      // lost: repairs and redone steps
  double ettr = 0;                    // effective training time ratio: 1 - lost / wall
  bool passed() const;
  nlohmann::json ToJson() const;
};

RunResult JudgeRun(const Scenario& scenario, const RunSeen& seen);

}  // namespace bulwark::controller
