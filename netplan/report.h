// A phase's plan in figures: what `bulwarkctl plan traffic` prints and what the controller
// shows for a job (GET /v1/jobs/{id}/plan), computed once for both.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

#include "netplan/flows.h"
#include "netplan/planner.h"
#include "netplan/topology.h"

namespace bulwark::netplan {

struct PhaseReport {
  size_t flows = 0, inter_leaf_flows = 0, split_flows = 0, unroutable_flows = 0;
  double max_load_s = 0, bound_s = 0;
  double max_load_over_bound = 1;         // 1.000: the plan meets ideal spraying's bound
  double ecmp_max_load_over_planned = 1;  // what hashing alone would cost, on the busiest link
  double planned_s = 0, ecmp_s = 0, ideal_s = 0;  // predicted completion (flow_model.h)
};

// Evaluates `plan` against ECMP (with `hash`) and ideal spraying on the flow-level model.
PhaseReport ReportPhase(const Topology& t, const Phase& phase, const Plan& plan, const SwitchHash& hash = {});
// Its JSON, as both shells show it (without the routes).
nlohmann::json ToJson(const PhaseReport& r);
// A flow and its route by name: {src: "host/nic", dst, channel, bytes, paths: [{spine,
// fraction, src_port}]} (no paths: the flow stays in its leaf).
nlohmann::json RouteJson(const Topology& t, const Flow& f, const FlowRoute& route);
std::string NicLabel(const Topology& t, int nic);  // "host/nic"

}  // namespace bulwark::netplan
