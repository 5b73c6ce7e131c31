// NIC-aware placement of a transformer job on a cluster of mixed NICs (Holmes' rules):
// tensor parallelism inside a node, each data-parallel group inside one NIC group (class
// and island) where the group is big enough, pipeline stages across groups (only
// point-to-point activations cross the slow links), and layers split over the stages so
// that the modelled iteration time (iteration_model.h) is lowest: stages whose all-reduce
// runs on a faster NIC take more layers. Pure.
#pragma once

#include <optional>
#include <vector>

#include "common/status.h"
#include "netplan/iteration_model.h"

namespace bulwark::netplan {

// Chooses job.nodes() of the candidates and their positions. Whole stages come from the
// fastest groups that can fill one; the stages no group can fill take the nodes left over
// (their all-reduce crosses Ethernet). The blocks of stages are ordered, over every order
// when there are few, for the lowest modelled time. The error is Validate's.
Result<Layout> PlaceNicAware(const PlacementProblem& problem);

// What a scheduler that ignores NICs does: the first job.nodes() candidates in their
// order, the layers split evenly (the first stages take the remainder). The baseline.
Layout PlaceRankOrder(const PlacementProblem& problem);

// The candidate (an index into problem.nodes) that, put at `position` in place of the node
// there, keeps the modelled iteration time lowest with the layer split unchanged (the
// snapshot the job restarts from holds each stage's layers). Ties go to the earlier
// candidate; nothing when there are none.
std::optional<int> ChooseSpare(const PlacementProblem& problem, const Layout& layout, int position,
                               const std::vector<int>& candidates);

}  // namespace bulwark::netplan
