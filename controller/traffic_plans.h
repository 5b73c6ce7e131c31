// Jobs' traffic plans (issue 10): the controller's shell around netplan/. With a topology
// configured (`netplan.topology`), every launch plans the job's collective flows over the
// fabric (its nodes, in rank order, are the topology's hosts of the same names) and sends
// each node's agent the source ports of the flows it sends (a `flow_ports` command).
//
// A fabric link reported down (POST /v1/fabric/links: the fabric's own monitoring, or an
// operator, since agents see their NICs and not the leaf-spine links) replans every running
// job incrementally, moving only the flows that crossed it; one reported back up plans
// them afresh, which brings the maximum load back to the bound.
//
// Stored: each job's newest plan (record kind "plans", with every route, so a restarted
// controller serves and replans the same plan) and each link reported down ("fabric").
//
// Not thread-safe: called from the controller's one I/O thread, like Cluster.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/cluster.h"
#include "netplan/netplan.h"

namespace bulwark::controller {

// Reads and checks a topology file; the error names the file, the line and the element.
Result<netplan::Topology> LoadTopologyFile(const std::string& path);

class TrafficPlans {
 public:
  // No topology: nothing is planned, and the endpoints say how to configure one.
  TrafficPlans(Cluster* cluster, std::optional<netplan::Topology> topology);

  // Reads the links reported down and the stored plans. A plan whose job's flows no longer
  // match it (the topology file changed) is made afresh at the job's next launch.
  void Load();
  // A launch (first or after a recovery): plans the job on its new placement.
  void JobLaunched(const JobRecord& job, int64_t now_wall_ms);
  // Body {leaf, spine, state: "down" | "up", reason}; throws ApiError (400 bad body, 404
  // unknown leaf or spine, 409 no topology).
  nlohmann::json SetLink(const nlohmann::json& body, int64_t now_wall_ms);
  // GET /v1/fabric: the topology's shape and the links down.
  nlohmann::json Fabric() const;
  // GET /v1/jobs/{id}/plan: the figures per phase, and with `node` the routes of the flows
  // that node sends. Throws ApiError 404 (unknown job or node, or no plan).
  nlohmann::json JobPlan(const std::string& job, const std::string& node) const;

 private:
  struct Planned {
    std::string job;
    int attempt = 0;
    int generation = 0;  // plans made for this job so far (launches and replans)
    std::vector<std::string> nodes;
    std::vector<int> hosts;  // topology host index of each node
    netplan::Collective collective;
    std::string collective_name;
    std::vector<netplan::Phase> phases;
    std::vector<netplan::Plan> plans;  // one per phase
    nlohmann::json summary;            // figures per phase, as stored and shown
    nlohmann::json history = nlohmann::json::array();  // every plan made: time, trigger, moved flows
  };

  const netplan::Topology& topology() const;
  // Figures of the current plans; appends to history; stores; sends the ports.
  void Publish(Planned& p, const std::string& trigger, size_t moved, int64_t now_wall_ms);
  nlohmann::json PortsFor(const Planned& p, const std::string& node) const;
  nlohmann::json Stored(const Planned& p) const;
  std::optional<Planned> FromStored(const nlohmann::json& j) const;

  Cluster* cluster_;
  std::optional<netplan::Topology> topology_;
  std::map<std::string, Planned> plans_;  // by job
  std::map<std::string, std::string> unplanned_;  // job -> why its last launch was not planned
};

}  // namespace bulwark::controller
