// A job's recovery as the controller stores it: a small state machine whose phase is
// written to RocksDB before the phase's work starts, so a controller killed in any phase
// redoes that phase's (idempotent) work after its restart and goes on.
//
//   fence ─▶ stop ─▶ spare ─▶ relaunch ─▶ restore ─▶ (running)
//
// fence:    the culprits are isolated (drained, for planned moves) and their ranks stopped
// stop:     every node of the job stops the job's ranks; lost nodes count as stopped
// spare:    each unusable node of the placement gets a replacement (or, by policy, the job
//           waits for one or shrinks to the nodes it has)
// relaunch: the job's recovery point is read from the snapshot catalog and the job is
//           launched again with it as the step to restore
// restore:  the ranks restore (survivors from their node's memory, replacements from
//           peers' fragments) and the first step after the restore ends the recovery
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bulwark::controller {

enum class RecoveryPhase { kFence, kStop, kSpare, kRelaunch, kRestore };

// A shrink (spare_policy: shrink, no replacement left): the world size the snapshot to
// restore was taken by, and for each rank of the smaller world the old ranks whose state it
// reads. A survivor's ranks read the old ranks it ran (its memory holds them); a dropped
// node's old ranks go round-robin over the new ranks, whose agents rebuild them from peers'
// fragments. The trainer puts the state together (Trainer::Reshard).
struct Reshard {
  int old_world = 0;
  std::map<int, std::vector<int>> reads;  // new rank -> old ranks
};

// Drops the nodes at `dropped` (positions in a placement of `nodes` nodes, `ranks_per_node`
// each) from `current` (nullopt: nothing resharded yet, every rank reads itself). Pure.
Reshard PlanShrink(const std::optional<Reshard>& current, int nodes, int ranks_per_node, const std::vector<int>& dropped);
nlohmann::json ToJson(const Reshard& r);
const char* RecoveryPhaseName(RecoveryPhase p);
RecoveryPhase RecoveryPhaseFromName(const std::string& name);  // throws std::invalid_argument

struct Recovery {
  RecoveryPhase phase = RecoveryPhase::kFence;
  std::string trigger;                // "verdict", "exit", "operator", "drain"
  std::vector<std::string> culprits;  // nodes to fence and replace (a second fault adds one)
  std::vector<std::string> fenced;    // the culprits this recovery has fenced: a start-over fences only the others
  bool isolate = true;                // false for a drain: the node is drained, not isolated
  std::string reason;
  std::string incident;               // the incident behind it, if any
  int from_attempt = 0;               // the launch attempt that failed
  int64_t fault_ms = 0;               // when the fault happened, as well as the evidence says
  int64_t detected_ms = 0;            // when the controller decided to recover
  std::vector<std::pair<std::string, int64_t>> marks;  // phase entered / milestone, wall ms
  std::optional<uint64_t> restore_step;  // the recovery point the relaunch restores
  std::optional<int64_t> restored_step;  // what the first rank to say so restored (0: nothing, it started over)
  std::string waiting_for;               // what the current phase waits on, for operators
  std::optional<Reshard> reshard;        // set when the job shrank
};

nlohmann::json ToJson(const Recovery& r);
Recovery RecoveryFromJson(const nlohmann::json& j);

// Milestone time, or 0.
int64_t MarkTime(const Recovery& r, const std::string& name);

// The time to repair, split the way operators read it (ms): detect (fault → decision),
// isolate (fence + stop), relaunch (spare + launch until the ranks run), restore (until
// every rank holds its state again), first_step (restore → the first step done), total.
nlohmann::json MttrBreakdown(const Recovery& r);

}  // namespace bulwark::controller
