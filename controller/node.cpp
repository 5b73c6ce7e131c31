#include "controller/node.h"

#include <stdexcept>

namespace bulwark::controller {

const char* HealthName(Health h) {
  switch (h) {
    case Health::kHealthy: return "healthy";
    case Health::kSuspect: return "suspect";
    case Health::kIsolated: return "isolated";
    case Health::kLost: return "lost";
  }
  return "?";
}

const char* RoleName(Role r) { return r == Role::kSpare ? "spare" : "worker"; }

Health HealthFromName(const std::string& name) {
  for (Health h : {Health::kHealthy, Health::kSuspect, Health::kIsolated, Health::kLost}) {
    if (name == HealthName(h)) return h;
  }
  throw std::invalid_argument("unknown health '" + name + "'");
}

Role RoleFromName(const std::string& name) {
  if (name == "worker") return Role::kWorker;
  if (name == "spare") return Role::kSpare;
  throw std::invalid_argument("unknown role '" + name + "'");
}

nlohmann::json ToJson(const NodeRecord& record) {
  nlohmann::json j = ToJson(record.info);
  j["role"] = RoleName(record.state.role);
  j["health"] = HealthName(record.state.health);
  j["drained"] = record.state.drained;
  j["reason"] = record.state.reason;
  j["since_ms"] = record.state.since_ms;
  j["registered_ms"] = record.registered_ms;
  j["registrations"] = record.registrations;
  return j;
}

NodeRecord NodeRecordFromJson(const nlohmann::json& j) {
  NodeRecord r;
  nlohmann::json info = j;
  for (const char* key : {"health", "drained", "reason", "since_ms", "registered_ms", "registrations"}) {
    info.erase(key);
  }
  r.info = ParseNodeInfo(info);
  r.state.role = RoleFromName(r.info.role);
  r.state.health = HealthFromName(j.at("health").get<std::string>());
  r.state.drained = j.at("drained").get<bool>();
  r.state.reason = j.at("reason").get<std::string>();
  r.state.since_ms = j.at("since_ms").get<int64_t>();
  r.registered_ms = j.at("registered_ms").get<int64_t>();
  r.registrations = j.at("registrations").get<int64_t>();
  return r;
}

}  // namespace bulwark::controller
