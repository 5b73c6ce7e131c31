#include "controller/injections.h"

#include <cstdio>

#include "controller/disk_filler.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

// A string field of an agent's message, or "" when absent or not a string: what agents
// send is stored by Cluster before it reaches here, so nothing here may throw on it.
std::string Text(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

std::string InjectionId(uint64_t n) {
  char id[32];
  std::snprintf(id, sizeof id, "inj-%06llu", static_cast<unsigned long long>(n));
  return id;
}

}  // namespace

Injections::Injections(Cluster* cluster, InjectionsOptions options) : cluster_(cluster), options_(std::move(options)) {}

void Injections::Load() {
  for (const auto& [id, value] : cluster_->StoredRecords(RecordKind::kInjections)) {
    Record r;
    r.json = json::parse(value, nullptr, false);
    if (!r.json.is_object()) continue;  // unreadable: shown nowhere, never overwritten (its id is skipped)
    // Command ids are a controller instance's own: the previous one's would match this
    // one's new commands. A lasting fault still reports its end by the agent's event.
    records_[id] = std::move(r);
  }
  for (const auto& [id, value] : cluster_->StoredRecords(RecordKind::kInjections)) {
    unsigned long long n = 0;
    if (std::sscanf(id.c_str(), "inj-%llu", &n) == 1 && n > last_id_) last_id_ = n;
  }
}

Injections::Record& Injections::Find(const std::string& id) {
  auto it = records_.find(id);
  if (it == records_.end()) throw ApiError(404, "no injection '" + id + "'");
  return it->second;
}

void Injections::Store(Record& r, const std::string& state, const std::string& event_kind, int64_t now_wall_ms,
                       const json& extra) {
  json updated = r.json;
  updated["state"] = state;
  updated["updated_ms"] = now_wall_ms;
  for (const auto& [k, v] : extra.items()) updated[k] = v;
  json event = {{"time_ms", now_wall_ms}, {"kind", event_kind}, {"injection", updated["id"]}, {"fault", updated["kind"]}};
  if (updated.contains("node")) event["node"] = updated["node"];
  if (extra.contains("error")) event["error"] = extra["error"];
  cluster_->StoreRecord(RecordKind::kInjections, updated["id"].get<std::string>(), updated, event);
  r.json = std::move(updated);  // only once stored
}

json Injections::Start(const json& body, int64_t now_wall_ms) {
  auto spec = ParseInjection(body);
  if (!spec.ok()) throw ApiError(400, "injection: " + spec.status().message());
  const InjectionKind* kind = FindInjectionKind(spec->kind);
  if (kind->site != InjectionSite::kAgent) {
    Record r;
    r.json = ToJson(spec.value());
    r.json["id"] = InjectionId(last_id_ + 1);
    r.json["request"] = body;
    r.json["created_ms"] = now_wall_ms;
    return StartHere(std::move(r), spec.value(), now_wall_ms);
  }
  cluster_->CommandsAfter(spec->node, UINT64_MAX >> 1);  // 404 naming an unknown node
  const std::string id = InjectionId(last_id_ + 1);
  json args = ToJson(spec.value());
  args["id"] = id;
  // Queued first (a refusal throws before anything is stored); the agent can only fetch it
  // after this handler has stored the record, on this same thread.
  const Command c = cluster_->EnqueueCommand(spec->node, {{"kind", "inject"}, {"args", args}}, now_wall_ms);
  Record r;
  r.command_id = c.id;
  r.json = ToJson(spec.value());
  r.json["id"] = id;
  r.json["request"] = body;
  r.json["created_ms"] = now_wall_ms;
  r.json["command_id"] = c.id;
  Store(r, "sent", "injection.started", now_wall_ms);
  last_id_ += 1;
  auto& stored = records_[id] = std::move(r);
  return stored.json;
}

json Injections::StartHere(Record r, const InjectionSpec& spec, int64_t now_wall_ms) {
  const std::string id = r.json["id"];
  if (spec.kind == "fill-disk") {
    auto fill = FillDisk(options_.data_dir, "bulwark-fill." + id, spec.leave_bytes, options_.fill_disk_max_bytes);
    if (!fill.ok()) throw ApiError(409, "fill-disk: " + fill.status().message());
    r.json["result"] = {{"file", fill->file}, {"bytes", fill->bytes}, {"free_after", fill->free_after}};
    if (spec.duration_ms > 0) r.json["until_ms"] = now_wall_ms + spec.duration_ms;
  } else {
    r.json["result"] = {{"note", "the tool that runs the cluster kills the controller and starts it again"}};
  }
  last_id_ += 1;
  auto& kept = records_[id] = std::move(r);
  try {
    Store(kept, "active", "injection.applied", now_wall_ms);
  } catch (const ApiError& e) {
    // The disk it just filled may be the database's: the fault is in force, unrecorded
    // until it heals (HealHere stores it then). Say so rather than fail the request.
    kept.json["state"] = "active";
    kept.json["unsaved"] = e.what();
  }
  return kept.json;
}

void Injections::HealHere(Record& r, const std::string& by, int64_t now_wall_ms) {
  if (r.json.value("kind", "") == "fill-disk") {
    const std::string file = r.json["result"].value("file", "");
    if (Status s = UnfillDisk(file); !s.ok()) throw ApiError(500, "fill-disk: cannot heal: " + s.message());
  }
  r.json.erase("unsaved");
  Store(r, "healed", "injection.healed", now_wall_ms, {{"healed_by", by}});
}

void Injections::Tick(int64_t now_wall_ms) {
  for (auto& [id, r] : records_) {
    if (r.json.value("state", "") == "active" && r.json.contains("until_ms") && r.json["until_ms"].get<int64_t>() <= now_wall_ms) {
      try {
        HealHere(r, "duration", now_wall_ms);
      } catch (const ApiError&) {
        // Stays active; the next tick tries again.
      }
    }
  }
}

json Injections::Heal(const std::string& id, int64_t now_wall_ms) {
  Record& r = Find(id);
  const std::string state = r.json.value("state", "");
  const InjectionKind* kind = FindInjectionKind(r.json.value("kind", ""));
  if (!kind || !kind->lasting) throw ApiError(409, "injection " + id + " (" + r.json.value("kind", "") + ") was done at once: nothing to heal");
  if (state == "healed") return r.json;
  if (state == "failed") throw ApiError(409, "injection " + id + " failed: nothing to heal");
  if (kind->site != InjectionSite::kAgent) {
    HealHere(r, "heal", now_wall_ms);
    return r.json;
  }
  const Command c = cluster_->EnqueueCommand(r.json.value("node", ""), {{"kind", "heal_injection"}, {"args", {{"id", id}}}}, now_wall_ms);
  r.heal_command_id = c.id;
  r.json["heal_command_id"] = c.id;
  cluster_->StoreRecord(RecordKind::kInjections, id, r.json, json());
  return r.json;
}

json Injections::List() const {
  json out = json::array();
  for (const auto& [id, r] : records_) out.push_back(r.json);
  return out;
}

json Injections::Get(const std::string& id) const {
  auto it = records_.find(id);
  if (it == records_.end()) throw ApiError(404, "no injection '" + id + "'");
  return it->second.json;
}

void Injections::OnCommandResult(const std::string& node, uint64_t command_id, const json& body, int64_t now_wall_ms) {
  for (auto& [id, r] : records_) {
    if (r.json.value("node", "") != node) continue;
    const bool ok = body.is_object() && body.contains("ok") && body["ok"].is_boolean() && body["ok"].get<bool>();
    const json result = body.is_object() && body.contains("result") && body["result"].is_object() ? body["result"] : json::object();
    if (command_id == r.command_id && r.json.value("state", "") == "sent") {
      const InjectionKind* kind = FindInjectionKind(r.json.value("kind", ""));
      if (ok) {
        Store(r, kind && kind->lasting ? "active" : "done", "injection.applied", now_wall_ms, {{"result", result}});
      } else {
        const std::string why = Text(result, "error");
        Store(r, "failed", "injection.failed", now_wall_ms, {{"error", why.empty() ? "the agent refused" : why}});
      }
      return;
    }
    if (command_id == r.heal_command_id && r.json.value("state", "") == "active") {
      // Healed by the agent, or already over there (its duration ran out while the heal
      // was on its way, and the agent has forgotten it): either way no longer in force.
      Store(r, "healed", "injection.healed", now_wall_ms, {{"healed_by", "heal"}});
      return;
    }
  }
}

void Injections::OnAgentEvents(const std::string& node, const json& body, int64_t now_wall_ms) {
  if (!body.is_object() || !body.contains("events") || !body["events"].is_array()) return;
  for (const auto& e : body["events"]) {
    if (Text(e, "kind") != "injection_healed" || !e.contains("detail") || !e["detail"].is_object()) continue;
    const json& detail = e["detail"];
    auto it = records_.find(Text(detail, "id"));
    if (it == records_.end() || it->second.json.value("node", "") != node) continue;
    const std::string state = it->second.json.value("state", "");
    if (state == "active" || state == "sent") {
      Store(it->second, "healed", "injection.healed", now_wall_ms, {{"healed_by", Text(detail, "by")}});
    }
  }
}

}  // namespace bulwark::controller
