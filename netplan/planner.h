// Paths for a phase's flows. A flow between NICs on one leaf has no choice; a flow between
// leaves takes one spine (or, split at the application layer over several queue pairs,
// a few), and the UDP source port that makes its leaf's ECMP hash pick that spine.
//
// The goal is the smallest maximum load on any leaf-spine link. Its lower bound is ideal
// packet spraying: a leaf's traffic spread over all its usable uplinks (and a leaf's
// arrivals over all its downlinks) in proportion to their capacity.
//
// - Equal flows on equal links with nothing failed (a ring's or tree's channels): the
//   inter-leaf flows are a bipartite multigraph from source to destination leaf; an edge
//   colouring with Δ colours (Δ its largest degree; König) puts at most one flow of each
//   colour on a leaf. Whole flows, colour c on spine c mod S, load at most ⌈Δ/S⌉ flows per
//   link (the ceiling bound). Split, spine k takes colours [kΔ/S, (k+1)Δ/S): exactly Δ/S,
//   the bound, splitting only the at most S-1 colours that straddle a boundary.
// - Otherwise (failed links, unequal capacities or flows): largest flow first onto the spine
//   that keeps its two links least loaded, then, split, each flow on a link above the bound
//   sheds the excess to spines with room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "netplan/ecmp.h"
#include "netplan/flows.h"
#include "netplan/topology.h"

namespace bulwark::netplan {

struct PathShare {
  int spine = -1;
  double fraction = 1;    // of the flow's bytes
  uint16_t src_port = 0;  // steers the share onto `spine` (0: the flow stays in its leaf)
};

struct FlowRoute {
  std::vector<PathShare> paths;  // empty: source and destination share a leaf
  bool unroutable = false;       // no usable spine joins the two leaves
};

struct PlanOptions {
  bool split = true;
  SwitchHash hash;
};

struct Plan {
  std::vector<FlowRoute> routes;  // one per flow of the phase, in its order
  double max_load_s = 0;          // the most loaded leaf-spine link: seconds to carry its bytes
  double bound_s = 0;             // ideal spraying's lower bound on that
  size_t split_flows = 0, unroutable_flows = 0;
  bool exact = false;             // planned by edge colouring (equal flows and links)
};

// Seconds each directed leaf-spine link needs for its bytes: up[leaf * S + spine] (leaf to
// spine) and down[leaf * S + spine] (spine to leaf).
struct LinkLoads {
  std::vector<double> up, down;
  double Max() const;
};

LinkLoads Loads(const Topology& t, const Phase& phase, const std::vector<FlowRoute>& routes);
double LowerBound(const Topology& t, const Phase& phase);
// ⌈Δ/S⌉ flows on a link, for a phase of equal flows on equal links (0 otherwise).
double CeilingBound(const Topology& t, const Phase& phase);

Plan PlanPhase(const Topology& t, const Phase& phase, const PlanOptions& options = {});
// What the switches do with no plan: each flow's queue pair has its own source port
// (drawn from its endpoints and channel), and the leaf hashes it onto a spine.
Plan EcmpPhase(const Topology& t, const Phase& phase, const SwitchHash& hash = {});
// After links failed (marked in `t`): re-routes only the flows whose paths cross a failed
// link, onto the usable spines with room, and gives new source ports to the flows of the
// leaves whose ECMP groups shrank (their paths stay). Returns how many flows moved.
size_t Replan(const Topology& t, const Phase& phase, Plan* plan, const PlanOptions& options = {});

}  // namespace bulwark::netplan
