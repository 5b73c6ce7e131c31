#include "controller/traffic_plans.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "common/strict_json.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;
using namespace bulwark::netplan;

constexpr size_t kHistoryKept = 50;

bool Replannable(const JobRecord& job) { return job.state == "running" || job.state == "recovering"; }

netplan::Collective CollectiveOf(const TrafficSpec& spec) {
  netplan::Collective c;
  c.kind = CollectiveKindFromName(spec.collective).value();  // checked when the job was submitted
  c.bytes = spec.bytes;
  c.channels_per_nic = spec.channels_per_nic;
  c.stages = spec.stages;
  return c;
}

bool SameRoute(const FlowRoute& a, const FlowRoute& b) {
  if (a.unroutable != b.unroutable || a.paths.size() != b.paths.size()) return false;
  for (size_t i = 0; i < a.paths.size(); ++i) {
    if (a.paths[i].spine != b.paths[i].spine || a.paths[i].fraction != b.paths[i].fraction) return false;
  }
  return true;
}

// Counts and loads of a plan rebuilt from its routes.
Plan Evaluated(const Topology& t, const Phase& phase, std::vector<FlowRoute> routes) {
  Plan plan;
  plan.routes = std::move(routes);
  plan.max_load_s = Loads(t, phase, plan.routes).Max();
  plan.bound_s = LowerBound(t, phase);
  for (const FlowRoute& r : plan.routes) {
    plan.split_flows += r.paths.size() > 1;
    plan.unroutable_flows += r.unroutable;
  }
  return plan;
}

}  // namespace

Result<Topology> LoadTopologyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read the topology " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseTopology(text.str(), path);
}

TrafficPlans::TrafficPlans(Cluster* cluster, std::optional<Topology> topology)
    : cluster_(cluster), topology_(std::move(topology)) {}

const Topology& TrafficPlans::topology() const {
  if (!topology_) {
    throw ApiError(409, "no fabric topology is configured: set netplan.topology in the controller's config");
  }
  return *topology_;
}

void TrafficPlans::Load() {
  if (!topology_) return;
  for (const auto& [key, value] : cluster_->StoredRecords(RecordKind::kFabric)) {
    const json link = json::parse(value, nullptr, false);
    if (!link.is_object()) continue;
    const int leaf = topology_->FindLeaf(link.value("leaf", "")), spine = topology_->FindSpine(link.value("spine", ""));
    if (leaf >= 0 && spine >= 0) topology_->SetFailed(leaf, spine, link.value("state", "") == "down");
  }
  for (const auto& [job, value] : cluster_->StoredRecords(RecordKind::kPlans)) {
    const json stored = json::parse(value, nullptr, false);
    if (auto p = FromStored(stored)) plans_[job] = std::move(*p);
  }
}

void TrafficPlans::JobLaunched(const JobRecord& job, int64_t now_wall_ms) {
  if (!topology_) return;
  const Topology& t = *topology_;
  Planned p;
  p.job = job.id;
  p.attempt = job.attempt;
  p.nodes = job.placement;
  for (const std::string& node : job.placement) {
    const auto at = std::find(t.hosts.begin(), t.hosts.end(), node);
    if (at == t.hosts.end()) {
      unplanned_[job.id] = "node " + node + " is not a host of the topology '" + t.name + "'";
      cluster_->RecordEvent({{"time_ms", now_wall_ms}, {"kind", "traffic.unplanned"}, {"job", job.id}, {"reason", unplanned_[job.id]}});
      return;
    }
    p.hosts.push_back(static_cast<int>(at - t.hosts.begin()));
  }
  unplanned_.erase(job.id);
  if (auto before = plans_.find(job.id); before != plans_.end()) {
    p.generation = before->second.generation;
    p.history = before->second.history;
  }
  p.collective = CollectiveOf(job.spec.traffic);
  p.collective_name = job.spec.traffic.collective;
  p.phases = CollectiveFlows(t, p.hosts, p.collective);
  for (const Phase& phase : p.phases) p.plans.push_back(PlanPhase(t, phase));
  Publish(p, job.attempt > 1 ? "relaunch" : "launch", 0, now_wall_ms);
  plans_[job.id] = std::move(p);
}

json TrafficPlans::SetLink(const json& body, int64_t now_wall_ms) {
  StrictJson in(body);
  const std::string leaf_name = in.RequiredString("leaf"), spine_name = in.RequiredString("spine");
  const std::string state = in.RequiredString("state");
  if (state != "down" && state != "up") in.Fail("state", "must be 'down' or 'up', got '" + state + "'");
  const std::string reason = in.String("reason", "");
  in.Finish();
  const Topology& t = topology();
  const int leaf = t.FindLeaf(leaf_name), spine = t.FindSpine(spine_name);
  if (leaf < 0) throw ApiError(404, "no leaf named '" + leaf_name + "' in the topology '" + t.name + "'");
  if (spine < 0) throw ApiError(404, "no spine named '" + spine_name + "' in the topology '" + t.name + "'");
  if (t.Link(leaf, spine) <= 0) {
    throw ApiError(400, "leaf " + leaf_name + " is not cabled to spine " + spine_name + " in the topology '" + t.name + "'");
  }
  const bool down = state == "down";
  json answer = {{"leaf", leaf_name}, {"spine", spine_name}, {"state", state}, {"replanned", json::array()}};
  const bool was_down = !t.Usable(leaf, spine);
  answer["changed"] = was_down != down;
  if (was_down == down) return answer;

  const json link = {{"leaf", leaf_name}, {"spine", spine_name}, {"state", state}, {"reason", reason}, {"time_ms", now_wall_ms}};
  json event = link;
  event["kind"] = "fabric.link";
  cluster_->StoreRecord(RecordKind::kFabric, leaf_name + "/" + spine_name, link, event);
  topology_->SetFailed(leaf, spine, down);

  const std::string trigger = "link " + leaf_name + "-" + spine_name + " " + state;
  for (auto& [id, p] : plans_) {
    const JobRecord* job = cluster_->FindJob(id);
    if (!job || !Replannable(*job) || job->attempt != p.attempt) continue;
    size_t moved = 0;
    for (size_t i = 0; i < p.phases.size(); ++i) {
      if (down) {  // as few flows moved as possible: the running collective keeps the rest
        moved += Replan(t, p.phases[i], &p.plans[i]);
      } else {  // a link back: a fresh plan reaches the bound again
        Plan fresh = PlanPhase(t, p.phases[i]);
        for (size_t f = 0; f < fresh.routes.size(); ++f) moved += !SameRoute(fresh.routes[f], p.plans[i].routes[f]);
        p.plans[i] = std::move(fresh);
      }
    }
    Publish(p, trigger, moved, now_wall_ms);
    answer["replanned"].push_back({{"job", id}, {"moved_flows", moved}, {"max_load_over_bound", p.summary["max_load_over_bound"]}});
  }
  return answer;
}

void TrafficPlans::Publish(Planned& p, const std::string& trigger, size_t moved, int64_t now_wall_ms) {
  const Topology& t = *topology_;
  ++p.generation;
  json phases = json::array();
  double worst = 1, ecmp = 0;
  size_t unroutable = 0;
  for (size_t i = 0; i < p.phases.size(); ++i) {
    const PhaseReport report = ReportPhase(t, p.phases[i], p.plans[i]);
    json shown = {{"name", p.phases[i].name}};
    shown.update(ToJson(report));
    phases.push_back(shown);
    worst = std::max(worst, report.max_load_over_bound);
    ecmp = std::max(ecmp, report.ecmp_max_load_over_planned);
    unroutable += report.unroutable_flows;
  }
  p.summary = {{"max_load_over_bound", worst}, {"ecmp_max_load_over_planned", ecmp}, {"unroutable_flows", unroutable},
               {"phases", phases}};
  p.history.push_back({{"time_ms", now_wall_ms}, {"generation", p.generation}, {"trigger", trigger},
                       {"moved_flows", moved}, {"max_load_over_bound", worst}});
  while (p.history.size() > kHistoryKept) p.history.erase(p.history.begin());
  cluster_->StoreRecord(RecordKind::kPlans, p.job, Stored(p),
                        {{"time_ms", now_wall_ms}, {"kind", "traffic.planned"}, {"job", p.job}, {"attempt", p.attempt},
                         {"generation", p.generation}, {"trigger", trigger}, {"moved_flows", moved},
                         {"max_load_over_bound", worst}, {"ecmp_max_load_over_planned", ecmp}});
  // Each node's agent gets the ports of the flows it sends (the sender picks the source port).
  for (const std::string& node : std::set<std::string>(p.nodes.begin(), p.nodes.end())) {
    try {
      cluster_->EnqueueCommand(node, {{"kind", "flow_ports"}, {"args", PortsFor(p, node)}}, now_wall_ms);
    } catch (const ApiError&) {
      // A node the cluster no longer knows: the plan stands; no agent takes its ports.
    }
  }
}

json TrafficPlans::PortsFor(const Planned& p, const std::string& node) const {
  const Topology& t = *topology_;
  const auto at = std::find(t.hosts.begin(), t.hosts.end(), node);
  const int host = at == t.hosts.end() ? -1 : static_cast<int>(at - t.hosts.begin());
  json flows = json::array();
  for (size_t i = 0; i < p.phases.size(); ++i) {
    for (size_t f = 0; f < p.phases[i].flows.size(); ++f) {
      const Flow& flow = p.phases[i].flows[f];
      if (t.nics[flow.src_nic].host != host) continue;
      json shown = RouteJson(t, flow, p.plans[i].routes[f]);
      shown["phase"] = p.phases[i].name;
      flows.push_back(std::move(shown));
    }
  }
  return {{"job", p.job}, {"attempt", p.attempt}, {"generation", p.generation}, {"flows", flows}};
}

json TrafficPlans::Stored(const Planned& p) const {
  json routes = json::array();
  for (const Plan& plan : p.plans) {
    json phase = json::array();
    for (const FlowRoute& r : plan.routes) {
      if (r.unroutable) {
        phase.push_back(nullptr);
        continue;
      }
      json shares = json::array();
      for (const PathShare& s : r.paths) shares.push_back({s.spine, s.fraction, s.src_port});
      phase.push_back(shares);
    }
    routes.push_back(phase);
  }
  return {{"job", p.job},
          {"attempt", p.attempt},
          {"generation", p.generation},
          {"topology", topology_->name},
          {"nodes", p.nodes},
          {"traffic",
           {{"collective", p.collective_name},
            {"bytes", p.collective.bytes},
            {"channels_per_nic", p.collective.channels_per_nic},
            {"stages", p.collective.stages}}},
          {"summary", p.summary},
          {"history", p.history},
          {"routes", routes}};
}

std::optional<TrafficPlans::Planned> TrafficPlans::FromStored(const json& j) const {
  const Topology& t = *topology_;
  try {
    if (j.at("topology").get<std::string>() != t.name) return std::nullopt;
    Planned p;
    p.job = j.at("job").get<std::string>();
    p.attempt = j.at("attempt").get<int>();
    p.generation = j.at("generation").get<int>();
    p.nodes = j.at("nodes").get<std::vector<std::string>>();
    for (const std::string& node : p.nodes) {
      const auto at = std::find(t.hosts.begin(), t.hosts.end(), node);
      if (at == t.hosts.end()) return std::nullopt;
      p.hosts.push_back(static_cast<int>(at - t.hosts.begin()));
    }
    TrafficSpec spec;
    spec.collective = j.at("traffic").at("collective").get<std::string>();
    spec.bytes = j["traffic"].at("bytes").get<double>();
    spec.channels_per_nic = j["traffic"].at("channels_per_nic").get<int>();
    spec.stages = j["traffic"].at("stages").get<int>();
    if (!CollectiveKindFromName(spec.collective).ok()) return std::nullopt;
    p.collective = CollectiveOf(spec);
    p.collective_name = spec.collective;
    p.summary = j.at("summary");
    p.history = j.at("history");
    p.phases = CollectiveFlows(t, p.hosts, p.collective);
    const json& routes = j.at("routes");
    if (routes.size() != p.phases.size()) return std::nullopt;
    for (size_t i = 0; i < p.phases.size(); ++i) {
      if (routes[i].size() != p.phases[i].flows.size()) return std::nullopt;
      std::vector<FlowRoute> rebuilt(p.phases[i].flows.size());
      for (size_t f = 0; f < rebuilt.size(); ++f) {
        const json& shares = routes[i][f];
        rebuilt[f].unroutable = shares.is_null();
        if (shares.is_null()) continue;
        for (const json& s : shares) {
          const int spine = s.at(0).get<int>();
          if (spine < 0 || spine >= static_cast<int>(t.spines.size())) return std::nullopt;
          rebuilt[f].paths.push_back({spine, s.at(1).get<double>(), s.at(2).get<uint16_t>()});
        }
      }
      p.plans.push_back(Evaluated(t, p.phases[i], std::move(rebuilt)));
    }
    return p;
  } catch (const json::exception&) {
    return std::nullopt;  // written by another version: planned afresh at the next launch
  }
}

json TrafficPlans::Fabric() const {
  if (!topology_) {
    return {{"configured", false}, {"hint", "set netplan.topology in the controller's config to plan jobs' traffic"}};
  }
  const Topology& t = *topology_;
  json down = json::array();
  for (size_t l = 0; l < t.leaves.size(); ++l) {
    for (size_t s = 0; s < t.spines.size(); ++s) {
      if (t.Link(l, s) > 0 && !t.Usable(l, s)) down.push_back({{"leaf", t.leaves[l].name}, {"spine", t.spines[s].name}});
    }
  }
  return {{"configured", true}, {"name", t.name},         {"hosts", t.hosts.size()}, {"nics", t.nics.size()},
          {"leaves", t.leaves.size()}, {"spines", t.spines.size()}, {"links_down", down}};
}

json TrafficPlans::JobPlan(const std::string& job, const std::string& node) const {
  const JobRecord* record = cluster_->FindJob(job);
  if (!record) throw ApiError(404, "unknown job '" + job + "'");
  const Topology& t = topology();
  auto it = plans_.find(job);
  if (it == plans_.end()) {
    auto why = unplanned_.find(job);
    return {{"job", job}, {"planned", false},
            {"reason", why != unplanned_.end() ? why->second : "the job has not been launched since the controller started"}};
  }
  const Planned& p = it->second;
  json out = {{"job", job},
              {"planned", true},
              {"attempt", p.attempt},
              {"current", p.attempt == record->attempt},
              {"generation", p.generation},
              {"topology", t.name},
              {"collective", p.collective_name},
              {"bytes", p.collective.bytes},
              {"nodes", p.nodes},
              {"history", p.history}};
  out.update(p.summary);
  if (!node.empty()) {
    if (std::find(p.nodes.begin(), p.nodes.end(), node) == p.nodes.end()) {
      throw ApiError(404, "node " + node + " is not in the plan of " + job);
    }
    out["node"] = node;
    out["flows"] = PortsFor(p, node)["flows"];
  }
  return out;
}

}  // namespace bulwark::controller
