// The commands that put a link fault on this node's interface and take it off again
// (slow-link, lossy-link, partition-node, flap-link; controller/injection.h validates
// them). Pure: the agent's FaultInjector runs what this returns, inside the node's own
// network namespace on a local cluster, on the node itself elsewhere.
//
// - slow-link, lossy-link: every packet in and out of the interface through bulwark-netem
//   (NFQUEUE; the kernel here has no tc netem), which delays, paces and drops them.
// - partition-node: iptables drops everything in and out of the interface.
// - flap-link: the interface itself down and up (`ip link set`), on a period.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::agent {

struct LinkFaultTools {
  std::string interface;  // the node's own, e.g. eth0
  std::string ip = "/usr/sbin/ip", iptables = "/usr/sbin/iptables", netem;
};

using Command = std::vector<std::string>;

struct LinkFaultPlan {
  Command netem;                // started first, when not empty; "ready" on its output when in force
  std::vector<Command> apply;   // then these, in order
  std::vector<Command> heal;    // these undo `apply`, in order (then netem is stopped)
  Command down, up;             // flap-link: run on its period
  int64_t period_ms = 0, down_ms = 0;
  // A fault that cuts the agent off (partition, flap) starts this long after the answer
  // that it was accepted, so that the answer still gets out.
  int64_t start_after_ms = 0;
};

bool IsLinkFault(const std::string& kind);

// args as the controller sends them: {kind, delay_ms, rate_mbit, loss_percent, period_ms,
// down_ms}. An error names what is missing.
Result<LinkFaultPlan> PlanLinkFault(const nlohmann::json& args, const LinkFaultTools& tools);

}  // namespace bulwark::agent
