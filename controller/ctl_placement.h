// `bulwarkctl plan placement --cluster C.yaml --job J.yaml`: reads a cluster's nodes and NIC
// classes and a job file (the one `job submit` takes, with its `model:`), places the job by
// NIC (netplan/placement.h) and prints the mapping, the layer split and the modelled
// iteration time next to rank-order placement's; --json all of it as JSON.
#pragma once

#include <string>

namespace bulwark::ctl {

struct PlanPlacementOptions {
  std::string cluster_file, job_file;
  bool json = false;
};

// 0 placed, 2 a bad cluster or job file, or a job the cluster cannot hold (the error says why).
int PlanPlacement(const PlanPlacementOptions& options);

}  // namespace bulwark::ctl
