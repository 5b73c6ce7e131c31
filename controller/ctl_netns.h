// `cluster up --netns`: every logical node in a network namespace of its own, so that its
// links are real links. Each node gets a veth pair: `eth0` with its own address inside its
// namespace, the other end on one bridge in the host's namespace, where the controller
// listens on the bridge's address. Agents, ranks and the data plane use the node's
// address; mpirun reaches a node through the remote-launch agent, which enters the node's
// namespace (scripts/launch-local). Link faults then act on a node's eth0 from inside.
//
// Every name carries the cluster's id, so `cluster down` finds and removes what `up` made
// (namespaces with their processes, the bridge, the links) by name alone: after a crash of
// the tool as well, or of the machine's state file.
//
// Addresses come from 198.18.0.0/15, the range set aside for network benchmarks (RFC 2544):
// one /24 per cluster, chosen by its id and moved on when taken.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::ctl {

struct NetnsNode {
  std::string name;       // the logical node
  std::string netns;      // its namespace
  std::string host_link;  // its veth end on the bridge, in the host's namespace
  std::string address;    // of its eth0
};

struct NetnsPlan {
  std::string netns_prefix;  // every namespace's name starts with it; + node name
  std::string bridge, bridge_address;
  int prefix_length = 24;
  std::vector<NetnsNode> nodes;
};

// Pure: names and addresses for a cluster's nodes; `attempt` moves to another subnet.
NetnsPlan PlanNetns(const std::string& cluster_id, const std::vector<std::string>& node_names, int attempt);
nlohmann::json ToJson(const NetnsPlan& plan);
NetnsPlan NetnsPlanFromJson(const nlohmann::json& j);

// Chooses a subnet no interface of this machine has yet and makes the plan real; on
// failure removes what it made and says which step failed (and that namespaces may not
// be allowed here).
Result<NetnsPlan> CreateNetns(const std::string& cluster_id, const std::vector<std::string>& node_names);

struct NetnsRemoved {
  int namespaces = 0, processes = 0, links = 0;
};
// Everything of cluster `cluster_id`, by name: processes inside its namespaces are killed.
NetnsRemoved RemoveNetns(const std::string& cluster_id);

// For a forked child before exec: joins the named namespace. False when it cannot.
bool EnterNetns(const std::string& netns);

}  // namespace bulwark::ctl
