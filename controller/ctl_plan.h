// `bulwarkctl plan traffic --topology T.yaml --job J.yaml [--flows]`: reads a fabric and a
// job (its hosts and collective), plans each phase's flows (netplan/) and prints the
// figures next to what ECMP and ideal spraying would give; --flows lists every flow's
// spines and source ports, --json all of it as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bulwark::ctl {

struct PlanTrafficOptions {
  std::string topology_file, job_file;
  bool flows = false, json = false;
};

// 0 planned, 2 a bad topology or job file (the error names file, line and element).
int PlanTraffic(const PlanTrafficOptions& options);

// The controller's side (online): `plan job ID [--node N]` prints GET /v1/jobs/{id}/plan,
// `fabric` GET /v1/fabric, `fabric link-down|link-up LEAF SPINE` the answer of
// POST /v1/fabric/links.
void PrintJobPlan(const nlohmann::json& plan);
void PrintFabric(const nlohmann::json& fabric);
void PrintLinkChange(const nlohmann::json& change);

}  // namespace bulwark::ctl
