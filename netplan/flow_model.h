// How long a phase takes on the fabric, at flow level: every link (a NIC's up and down
// link, each leaf-spine link in each direction) shares its capacity max-min fairly among
// the flows crossing it (progressive filling), and the phase ends with its slowest flow.
// The rates are those at the start: exact when every flow carries the same bytes (a
// bottleneck's flows all end together), as in the phases of flows.h.
#pragma once

#include <vector>

#include "netplan/flows.h"
#include "netplan/planner.h"
#include "netplan/topology.h"

namespace bulwark::netplan {

// Seconds until the last flow of `phase` arrives, routed as `routes` says.
double PredictCompletion(const Topology& t, const Phase& phase, const std::vector<FlowRoute>& routes);
// The same with ideal packet spraying: the larger of the spraying bound on the fabric and
// the busiest NIC link (no routing changes what a NIC must carry).
double IdealCompletion(const Topology& t, const Phase& phase);

}  // namespace bulwark::netplan
