#include "netplan/report.h"

#include "netplan/flow_model.h"

namespace bulwark::netplan {

PhaseReport ReportPhase(const Topology& t, const Phase& phase, const Plan& plan, const SwitchHash& hash) {
  PhaseReport r;
  r.flows = phase.flows.size();
  for (const FlowRoute& route : plan.routes) r.inter_leaf_flows += !route.paths.empty();
  r.split_flows = plan.split_flows;
  r.unroutable_flows = plan.unroutable_flows;
  r.max_load_s = plan.max_load_s;
  r.bound_s = plan.bound_s;
  if (plan.bound_s > 0) r.max_load_over_bound = plan.max_load_s / plan.bound_s;
  const Plan ecmp = EcmpPhase(t, phase, hash);
  if (plan.max_load_s > 0) r.ecmp_max_load_over_planned = ecmp.max_load_s / plan.max_load_s;
  r.planned_s = PredictCompletion(t, phase, plan.routes);
  r.ecmp_s = PredictCompletion(t, phase, ecmp.routes);
  r.ideal_s = IdealCompletion(t, phase);
  return r;
}

nlohmann::json ToJson(const PhaseReport& r) {
  return {{"flows", r.flows},
          {"inter_leaf_flows", r.inter_leaf_flows},
          {"split_flows", r.split_flows},
          {"unroutable_flows", r.unroutable_flows},
          {"max_load_s", r.max_load_s},
          {"bound_s", r.bound_s},
          {"max_load_over_bound", r.max_load_over_bound},
          {"ecmp_max_load_over_planned", r.ecmp_max_load_over_planned},
          {"completion_s", {{"planned", r.planned_s}, {"ecmp", r.ecmp_s}, {"ideal", r.ideal_s}}}};
}

std::string NicLabel(const Topology& t, int nic) { return t.hosts[t.nics[nic].host] + "/" + t.nics[nic].name; }

nlohmann::json RouteJson(const Topology& t, const Flow& f, const FlowRoute& route) {
  nlohmann::json paths = nlohmann::json::array();
  for (const PathShare& p : route.paths) {
    paths.push_back({{"spine", t.spines[p.spine].name}, {"fraction", p.fraction}, {"src_port", p.src_port}});
  }
  return {{"src", NicLabel(t, f.src_nic)},
          {"dst", NicLabel(t, f.dst_nic)},
          {"channel", f.channel},
          {"bytes", f.bytes},
          {"paths", paths},
          {"unroutable", route.unroutable}};
}

}  // namespace bulwark::netplan
