// Verdict -> incident -> suspect -> self-check -> isolated or cleared. Incidents are stored
// (they outlive a controller restart) with a timeline an operator can read top to bottom.
//
// States: "suspect" (waiting for the blamed nodes' self-checks), "confirmed" (a self-check
// failed: the node is isolated), "unconfirmed" (every self-check passed: the node is back
// to healthy and the verdict is marked unconfirmed), "noted" (no node is blamed: imbalance,
// a communication hang).
#include <algorithm>
#include <cstdio>

#include "common/strict_json.h"
#include "controller/cluster.h"
#include "diagnostics/link_matrix.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

std::string IncidentId(uint64_t number) {
  char id[32];
  std::snprintf(id, sizeof(id), "inc-%06llu", static_cast<unsigned long long>(number));
  return id;
}

void Note(json& incident, int64_t now_wall_ms, const std::string& what) {
  incident["timeline"].push_back({{"time_ms", now_wall_ms}, {"what", what}});
  incident["updated_ms"] = now_wall_ms;
}

}  // namespace

Status Cluster::StartDiagnosisTrace() {
  if (options_.diagnosis_trace.empty()) return Status::Ok();
  return diagnosis_.RecordTo(options_.diagnosis_trace);
}

void Cluster::LoadIncidents() {
  for (const auto& [id, value] : store_->List(RecordKind::kIncidents)) {
    unsigned long long number = 0;
    if (std::sscanf(id.c_str(), "inc-%llu", &number) == 1 && number >= next_incident_number_) {
      next_incident_number_ = number + 1;
    }
    const json incident = json::parse(value);
    if (incident.value("state", "") == "suspect") open_incidents_.insert(id);
  }
}

void Cluster::RequestLostSelfChecks(const std::string& node, int64_t now_wall_ms) {
  LiveNode& live = Find(node);
  for (const auto& id : open_incidents_) {
    const auto value = store_->Get(RecordKind::kIncidents, id);
    if (!value) continue;
    json incident = json::parse(*value);
    const json& pending = incident["pending"];
    if (incident["state"] != "suspect" || std::find(pending.begin(), pending.end(), node) == pending.end()) continue;
    const uint64_t asked = incident["self_checks"].value(node, uint64_t{0});
    const bool known = std::any_of(live.commands.begin(), live.commands.end(),
                                   [&](const Command& c) { return c.id == asked && c.kind == "self_check"; });
    if (known) continue;
    const Command c = EnqueueCommand(node, {{"kind", "self_check"}}, now_wall_ms);
    incident["self_checks"][node] = c.id;
    Note(incident, now_wall_ms, "node " + node + " registered again and its self-check was lost to a restart; requested again (command " +
                                    std::to_string(c.id) + ")");
    StoreIncident(incident, "incident.updated", now_wall_ms);
  }
}

void Cluster::StoreIncident(const json& incident, const std::string& event_kind, int64_t now_wall_ms) {
  const json event = {{"time_ms", now_wall_ms},
                      {"kind", event_kind},
                      {"incident", incident["id"]},
                      {"state", incident["state"]},
                      {"verdict", incident["verdict"]},
                      {"nodes", incident["nodes"]},
                      {"summary", incident["summary"]}};
  Commit({{RecordKind::kIncidents, incident["id"].get<std::string>(), DumpJson(incident)}}, {event}, true);
}

void Cluster::Diagnose(int64_t now_wall_ms, int64_t now_mono_ms) {
  for (const auto& verdict : diagnosis_.Tick(now_mono_ms)) {
    ++counters_.verdicts;
    const std::string incident = OpenIncident(verdict, now_wall_ms);
    JobVerdict(verdict, incident, now_wall_ms);
  }
}

std::string Cluster::OpenIncident(const diagnostics::Verdict& v, int64_t now_wall_ms) {
  const std::string id = IncidentId(next_incident_number_++);
  json incident = {{"id", id},
                   {"verdict", diagnostics::VerdictKindName(v.kind)},
                   {"summary", v.evidence},
                   {"confidence", v.confidence},
                   {"nodes", v.nodes},
                   {"ranks", v.ranks},
                   {"comm", v.comm},
                   {"blames_node", v.blames_node()},
                   {"detail", v.detail},
                   {"opened_ms", now_wall_ms},
                   {"updated_ms", now_wall_ms},
                   {"pending", json::array()},
                   {"self_checks", json::object()},
                   {"timeline", json::array()}};
  char confidence[16];
  std::snprintf(confidence, sizeof(confidence), "%.2f", v.confidence);
  Note(incident, now_wall_ms, std::string("verdict ") + diagnostics::VerdictKindName(v.kind) + " (confidence " +
                                  confidence + "): " + v.evidence);
  if (v.kind == diagnostics::VerdictKind::kSlowCommunication) {
    RequestProbeMatrix(incident, now_wall_ms);
    StoreIncident(incident, "incident.opened", now_wall_ms);
    if (incident["state"] == "probing") open_incidents_.insert(id);
    return id;
  }
  if (!v.blames_node()) {
    incident["state"] = "noted";
    Note(incident, now_wall_ms, v.kind == diagnostics::VerdictKind::kImbalance ? "lateness moves between ranks: imbalance, no node is at fault"
                                : v.kind == diagnostics::VerdictKind::kTrainingAnomaly
                                    ? "the numbers went wrong, not a machine: the job rolled back and skipped the data; nothing fenced"
                                    : "no single node is to blame: nothing fenced");
    StoreIncident(incident, "incident.opened", now_wall_ms);
    return id;
  }
  incident["state"] = "suspect";
  StoreIncident(incident, "incident.opened", now_wall_ms);
  for (const auto& name : v.nodes) {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) {
      Note(incident, now_wall_ms, "node " + name + " is not registered: nothing to check");
      continue;
    }
    LiveNode& live = it->second;
    const Health h = live.record.state.health;
    if (h == Health::kIsolated) {
      Note(incident, now_wall_ms, "node " + name + " is already isolated");
      continue;
    }
    incident["pending"].push_back(name);
    if (h == Health::kLost) {
      Note(incident, now_wall_ms, "node " + name + " is lost: it is checked when its agent returns");
      continue;
    }
    Apply(live, NodeInput::kSuspect, "incident " + id + ": " + diagnostics::VerdictKindName(v.kind) + " — " + v.evidence,
          true, now_wall_ms);
    const Command c = EnqueueCommand(name, {{"kind", "self_check"}}, now_wall_ms);
    incident["self_checks"][name] = c.id;
    Note(incident, now_wall_ms, "node " + name + " suspect; self-check requested (command " + std::to_string(c.id) + ")");
  }
  if (incident["pending"].empty()) incident["state"] = "confirmed";
  else open_incidents_.insert(id);
  StoreIncident(incident, "incident.updated", now_wall_ms);
  return id;
}

void Cluster::RequestProbeMatrix(json& incident, int64_t now_wall_ms) {
  std::vector<std::pair<std::string, std::string>> reachable;  // node, data-plane address
  for (const auto& name : incident["detail"].value("job_nodes", std::vector<std::string>{})) {
    auto it = nodes_.find(name);
    const std::string address = it == nodes_.end() ? "" : it->second.record.info.data_address;
    if (it == nodes_.end() || address.empty() || it->second.record.state.health == Health::kLost) {
      Note(incident, now_wall_ms, "node " + name + " cannot be probed (unknown, lost, or no data plane)");
      continue;
    }
    reachable.emplace_back(name, address);
  }
  if (reachable.size() < 2) {
    incident["state"] = "noted";
    Note(incident, now_wall_ms, "fewer than 2 nodes to probe: the links cannot be measured");
    return;
  }
  incident["state"] = "probing";
  incident["probe_nodes"] = json::array();
  incident["probe_results"] = json::object();
  for (const auto& [name, address] : reachable) {
    json peers = json::array();
    for (const auto& [other, other_address] : reachable) {
      if (other != name) peers.push_back({{"node", other}, {"address", other_address}});
    }
    // 3 s a peer at most: a slow NIC's own probes would otherwise hold the verdict for
    // minutes (ProbeLink measures what it sent by then).
    const Command c =
        EnqueueCommand(name, {{"kind", "probe_links"}, {"args", {{"peers", peers}, {"timeout_ms", 3000}}}}, now_wall_ms);
    incident["probe_nodes"].push_back(name);
    incident["pending"].push_back(name);
    Note(incident, now_wall_ms, "link probes requested from " + name + " (command " + std::to_string(c.id) + ")");
  }
}

void Cluster::SettleOpenIncidents(const std::string& node, bool probing, const std::function<void(json&)>& settle,
                                  int64_t now_wall_ms) {
  for (auto it = open_incidents_.begin(); it != open_incidents_.end();) {
    const auto value = store_->Get(RecordKind::kIncidents, *it);
    if (!value) {  // no longer stored: nothing waits
      it = open_incidents_.erase(it);
      continue;
    }
    json incident = json::parse(*value);
    auto& pending = incident["pending"];
    const auto at = std::find(pending.begin(), pending.end(), node);
    if (at == pending.end() || (incident["state"] == "probing") != probing) {
      ++it;
      continue;
    }
    pending.erase(at);
    settle(incident);
    StoreIncident(incident, "incident.updated", now_wall_ms);
    it = incident["pending"].empty() ? open_incidents_.erase(it) : std::next(it);
  }
}

void Cluster::ProbesConcluded(const std::string& node, const json& result, int64_t now_wall_ms) {
  SettleOpenIncidents(node, true, [&](json& incident) {
    incident["probe_results"][node] = result.is_object() ? result.value("links", json::array()) : json::array();
    Note(incident, now_wall_ms, "link probes from " + node + " arrived");
    if (!incident["pending"].empty()) return;
    std::vector<diagnostics::LinkProbe> probes;
    for (const auto& [from, links] : incident["probe_results"].items()) {
      for (const auto& l : links) {
        if (l.contains("error")) continue;
        probes.push_back({from, l.value("to", std::string()), l.value("latency_us", 0.0), l.value("mbps", 0.0)});
      }
    }
    const auto finding =
        diagnostics::ClassifyLinks(incident["probe_nodes"].get<std::vector<std::string>>(), probes, options_.link_slow_fraction);
    incident["finding"] = {{"kind", diagnostics::LinkFindingKindName(finding.kind)},
                           {"nodes", finding.nodes},
                           {"links", finding.links},
                           {"evidence", finding.evidence}};
    Note(incident, now_wall_ms,
         std::string("probe matrix: ") + diagnostics::LinkFindingKindName(finding.kind) + ": " + finding.evidence);
    if (finding.kind == diagnostics::LinkFinding::Kind::kSlowNic) {
      incident["state"] = "confirmed";
      incident["nodes"] = finding.nodes;
      incident["blames_node"] = true;
      for (const auto& name : finding.nodes) {
        auto n = nodes_.find(name);
        if (n == nodes_.end()) continue;
        Apply(n->second, NodeInput::kIsolate, "incident " + incident["id"].get<std::string>() + ": slow NIC — " + finding.evidence,
              true, now_wall_ms);
        Note(incident, now_wall_ms, "node " + name + " isolated: every one of its links is slow");
      }
    } else if (finding.kind == diagnostics::LinkFinding::Kind::kSlowLink) {
      incident["state"] = "noted";  // a link is the fabric's to mend: no node is fenced
      Note(incident, now_wall_ms, "slow link named; no node fenced");
    } else {
      incident["state"] = "unconfirmed";
      Note(incident, now_wall_ms, "the probes found no slow link between the job's nodes");
    }
  }, now_wall_ms);
}

void Cluster::SelfCheckConcluded(const std::string& node, uint64_t command, bool ok, const std::string& detail,
                                 int64_t now_wall_ms) {
  const bool fenced = Find(node).record.state.health == Health::kIsolated;
  SettleOpenIncidents(node, false, [&](json& incident) {
    incident["self_check_results"][node] = ok ? "passed" : "failed";
    Note(incident, now_wall_ms, "self-check on " + node + " (command " + std::to_string(command) + ") " +
                                    (ok ? "passed: " : "failed: ") + detail);
    if (!ok) {
      incident["state"] = "confirmed";
      Note(incident, now_wall_ms, "node " + node + " isolated: the self-check confirms the verdict");
    } else if (incident["pending"].empty() && incident["state"] == "suspect") {  // still suspect: nothing failed
      incident["state"] = "unconfirmed";
      Note(incident, now_wall_ms, fenced ? "every blamed node passed its self-check: verdict unconfirmed"
                                         : "every blamed node passed its self-check: back to healthy, verdict unconfirmed");
    }
    if (ok && fenced) {
      Note(incident, now_wall_ms, "node " + node + " stays isolated (a recovery fenced it): readmit it when it is trusted");
    }
  }, now_wall_ms);
}

}  // namespace bulwark::controller
