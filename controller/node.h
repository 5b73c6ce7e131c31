// What the controller knows about a node: what its agent reported when it registered
// (NodeInfo) and the health the controller decided (NodeState), stored as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/node_info.h"

namespace bulwark::controller {

using bulwark::IsValidNodeName;
using bulwark::NodeInfo;
using bulwark::ParseNodeInfo;
using bulwark::ToJson;

enum class Health { kHealthy, kSuspect, kIsolated, kLost };
enum class Role { kWorker, kSpare };

const char* HealthName(Health h);
const char* RoleName(Role r);
Health HealthFromName(const std::string& name);  // throws std::invalid_argument
Role RoleFromName(const std::string& name);

struct NodeState {
  Health health = Health::kHealthy;
  Role role = Role::kWorker;
  bool drained = false;  // no new work placed here; what runs keeps running
  std::string reason;    // why it is in this state
  int64_t since_ms = 0;  // wall clock of the last change
};

struct NodeRecord {
  NodeInfo info;
  NodeState state;
  int64_t registered_ms = 0;  // first registration
  int64_t registrations = 0;
};

nlohmann::json ToJson(const NodeRecord& record);
NodeRecord NodeRecordFromJson(const nlohmann::json& j);  // for what we stored ourselves

}  // namespace bulwark::controller
