// The faults operators injected, as the controller keeps them: each one stored (RocksDB,
// record kind "injections") with its request, its state and what was done, and each change
// an event (injection.started, .applied, .failed, .healed). Where each kind is made real:
// - agent kinds go to the target node's agent as an `inject` command; the agent heals a
//   lasting one itself when its duration runs out and says so (`injection_healed`);
// - fill-disk is done here, on the database's filesystem, and healed here (Tick);
// - kill-controller is the operator tool's: it is recorded here, then the tool kills the
//   controller, starts it again and heals the record.
//
// States: sent (queued for the agent) → active (lasting, in force) | done (at once) |
// failed; active → healed.
//
// Not thread-safe: called from the controller's one I/O thread, like Cluster.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

#include "controller/cluster.h"
#include "controller/injection.h"

namespace bulwark::controller {

struct InjectionsOptions {
  std::string data_dir;                     // fill-disk fills the filesystem under it
  uint64_t fill_disk_max_bytes = 4ull << 30;  // and refuses to take more than this
};

class Injections {
 public:
  Injections(Cluster* cluster, InjectionsOptions options);

  // Reads the stored records; ids go on from the highest.
  void Load();
  // Validates and starts one; throws ApiError (400 bad request, 404 unknown node).
  nlohmann::json Start(const nlohmann::json& body, int64_t now_wall_ms);
  // Ends a lasting one early; throws ApiError (404 unknown id, 409 not lasting or failed).
  nlohmann::json Heal(const std::string& id, int64_t now_wall_ms);
  nlohmann::json List() const;
  nlohmann::json Get(const std::string& id) const;  // throws ApiError 404

  // What agents answer and report moves the records on.
  void OnCommandResult(const std::string& node, uint64_t command_id, const nlohmann::json& body, int64_t now_wall_ms);
  void OnAgentEvents(const std::string& node, const nlohmann::json& body, int64_t now_wall_ms);
  // Heals the controller's own faults whose duration ran out. Call it now and then.
  void Tick(int64_t now_wall_ms);

 private:
  struct Record {
    nlohmann::json json;  // as stored and shown
    uint64_t command_id = 0, heal_command_id = 0;
  };
  Record& Find(const std::string& id);
  // Stores the record's new state with an event of `event_kind`.
  void Store(Record& r, const std::string& state, const std::string& event_kind, int64_t now_wall_ms,
             const nlohmann::json& extra = nlohmann::json::object());

  nlohmann::json StartHere(Record r, const InjectionSpec& spec, int64_t now_wall_ms);
  void HealHere(Record& r, const std::string& by, int64_t now_wall_ms);

  Cluster* cluster_;
  InjectionsOptions options_;
  std::map<std::string, Record> records_;  // by id, which sorts by age
  uint64_t last_id_ = 0;
};

}  // namespace bulwark::controller
