// What an agent can learn about its node by itself: hostname, CPUs, memory, GPUs, and NICs
// from /sys/class/net and /sys/class/infiniband. The roots are parameters so tests can
// point them at a fake tree. Config overrides win (ApplyOverrides).
#pragma once

#include <string>

#include "agent/agent_config.h"
#include "common/node_info.h"

namespace bulwark::agent {

NodeInfo DiscoverNode(const std::string& sysfs_root, const std::string& procfs_root);
NodeInfo ApplyOverrides(NodeInfo discovered, const NodeOverrides& overrides);

// "400 Gb/sec (4X NDR)" -> 400; 0 when unreadable.
double ParseInfinibandRate(const std::string& rate);

}  // namespace bulwark::agent
