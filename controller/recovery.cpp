#include "controller/recovery.h"

#include <algorithm>

#include <stdexcept>

namespace bulwark::controller {

namespace {
constexpr const char* kPhaseNames[] = {"fence", "stop", "spare", "relaunch", "restore"};
}

const char* RecoveryPhaseName(RecoveryPhase p) { return kPhaseNames[static_cast<int>(p)]; }

RecoveryPhase RecoveryPhaseFromName(const std::string& name) {
  for (int i = 0; i < 5; ++i) {
    if (name == kPhaseNames[i]) return static_cast<RecoveryPhase>(i);
  }
  throw std::invalid_argument("unknown recovery phase '" + name + "'");
}

Reshard PlanShrink(const std::optional<Reshard>& current, int nodes, int ranks_per_node, const std::vector<int>& dropped) {
  Reshard was;
  if (current) {
    was = *current;
  } else {
    was.old_world = nodes * ranks_per_node;
    for (int j = 0; j < was.old_world; ++j) was.reads[j] = {j};
  }
  Reshard next;
  next.old_world = was.old_world;
  std::vector<int> orphans;  // old ranks whose readers are dropped
  int new_rank = 0;
  for (int p = 0; p < nodes; ++p) {
    const bool gone = std::find(dropped.begin(), dropped.end(), p) != dropped.end();
    for (int i = 0; i < ranks_per_node; ++i) {
      const auto& reads = was.reads[p * ranks_per_node + i];
      if (gone) {
        orphans.insert(orphans.end(), reads.begin(), reads.end());
      } else {
        next.reads[new_rank++] = reads;
      }
    }
  }
  for (size_t i = 0; i < orphans.size() && new_rank > 0; ++i) next.reads[static_cast<int>(i) % new_rank].push_back(orphans[i]);
  for (auto& [rank, reads] : next.reads) std::sort(reads.begin(), reads.end());
  return next;
}

nlohmann::json ToJson(const Reshard& r) {
  nlohmann::json reads = nlohmann::json::object();
  for (const auto& [rank, old] : r.reads) reads[std::to_string(rank)] = old;
  return {{"old_world", r.old_world}, {"reads", reads}};
}

nlohmann::json ToJson(const Recovery& r) {
  nlohmann::json marks = nlohmann::json::array();
  for (const auto& [name, t] : r.marks) marks.push_back({{"what", name}, {"time_ms", t}});
  return {{"phase", RecoveryPhaseName(r.phase)},
          {"trigger", r.trigger},
          {"culprits", r.culprits},
          {"fenced", r.fenced},
          {"isolate", r.isolate},
          {"reason", r.reason},
          {"incident", r.incident},
          {"from_attempt", r.from_attempt},
          {"fault_ms", r.fault_ms},
          {"detected_ms", r.detected_ms},
          {"marks", marks},
          {"restore_step", r.restore_step ? nlohmann::json(*r.restore_step) : nlohmann::json()},
          {"restored_step", r.restored_step ? nlohmann::json(*r.restored_step) : nlohmann::json()},
          {"waiting_for", r.waiting_for},
          {"reshard", r.reshard ? ToJson(*r.reshard) : nlohmann::json()},
          {"mttr_ms", MttrBreakdown(r)}};
}

Recovery RecoveryFromJson(const nlohmann::json& j) {
  Recovery r;
  r.phase = RecoveryPhaseFromName(j.at("phase").get<std::string>());
  r.trigger = j.at("trigger").get<std::string>();
  r.culprits = j.at("culprits").get<std::vector<std::string>>();
  r.fenced = j.value("fenced", std::vector<std::string>{});
  r.isolate = j.at("isolate").get<bool>();
  r.reason = j.at("reason").get<std::string>();
  r.incident = j.at("incident").get<std::string>();
  r.from_attempt = j.at("from_attempt").get<int>();
  r.fault_ms = j.at("fault_ms").get<int64_t>();
  r.detected_ms = j.at("detected_ms").get<int64_t>();
  for (const auto& m : j.at("marks")) r.marks.emplace_back(m.at("what").get<std::string>(), m.at("time_ms").get<int64_t>());
  if (!j.at("restore_step").is_null()) r.restore_step = j["restore_step"].get<uint64_t>();
  if (j.contains("restored_step") && j["restored_step"].is_number()) r.restored_step = j["restored_step"].get<int64_t>();
  r.waiting_for = j.value("waiting_for", "");
  if (j.contains("reshard") && j["reshard"].is_object()) {
    Reshard s;
    s.old_world = j["reshard"].at("old_world").get<int>();
    for (const auto& [rank, old] : j["reshard"].at("reads").items()) s.reads[std::stoi(rank)] = old.get<std::vector<int>>();
    r.reshard = s;
  }
  return r;
}

int64_t MarkTime(const Recovery& r, const std::string& name) {
  for (const auto& [n, t] : r.marks)
    if (n == name) return t;
  return 0;
}

nlohmann::json MttrBreakdown(const Recovery& r) {
  const int64_t fault = r.fault_ms ? r.fault_ms : r.detected_ms;
  const int64_t spare = MarkTime(r, "spare"), launched = MarkTime(r, "launched");
  const int64_t restored = MarkTime(r, "restored"), first = MarkTime(r, "first_step");
  nlohmann::json out = nlohmann::json::object();
  auto span = [&out](const char* name, int64_t from, int64_t to) {
    if (from > 0 && to >= from) out[name] = to - from;
  };
  span("detect", fault, r.detected_ms);
  span("isolate", r.detected_ms, spare);
  span("relaunch", spare, launched);
  span("restore", launched, restored);
  span("first_step", restored ? restored : launched, first);
  span("total", fault, first);
  return out;
}

}  // namespace bulwark::controller
