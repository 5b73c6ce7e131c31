// The mpirun command line that launches a job on its placement, pure. One MPMD block per
// node (`-np R --host NODE:R env K=V … PROGRAM ARGS`), so every rank gets its own node's
// environment contract:
//   BULWARK_JOB_ID, BULWARK_ATTEMPT, BULWARK_NODE    who it is
//   BULWARK_AGENT_URL, BULWARK_AGENT_SOCKET          its node's agent (restore, hooks)
//   BULWARK_SNAPSHOT_PREFIX, BULWARK_SNAPSHOT_EVERY  where and how often it snapshots
//   BULWARK_RESTORE_STEP                             the step to restore (relaunches only)
//   BULWARK_LOSS_SPIKE_FACTOR, BULWARK_SKIP_BATCHES  the anomaly threshold, and the batches
//                                                    earlier attempts rolled back from
//   BULWARK_RESHARD_WORLD, BULWARK_RESHARD_READS      after a shrink: the snapshot's world
//                                                    and which old ranks each rank reads
//   LD_PRELOAD                                       the MPI hook, when configured
// mpirun reaches each host through Open MPI's remote-launch agent (plm_rsh_agent): ssh on
// real hosts, `bulwark-launch-local` for logical nodes on one machine (it runs the daemon
// here), a kubectl exec wrapper in Kubernetes. The same command serves all three.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/job.h"
#include "controller/node.h"

namespace bulwark::controller {

struct LaunchSettings {
  std::string mpirun = "mpirun";
  std::string rsh_agent;     // "" = Open MPI's default (ssh)
  std::string hook_library;  // LD_PRELOADed into every rank; "" = none
  std::vector<std::string> mpirun_args;  // put before the blocks (e.g. --bind-to none)
};

// `nodes` is the placement's NodeInfo, in rank order; ranks on nodes[i] are
// i*ranks_per_node ... (i+1)*ranks_per_node-1.
std::vector<std::string> BuildLaunchArgv(const LaunchSettings& settings, const JobRecord& job,
                                         const std::vector<NodeInfo>& nodes, std::optional<uint64_t> restore_step);

// The environment contract of the ranks on one node (what BuildLaunchArgv puts in its block);
// `position` is the node's place in the placement (-1: unknown, no reshard entries).
std::map<std::string, std::string> RankEnvironment(const LaunchSettings& settings, const JobRecord& job,
                                                   const NodeInfo& node, std::optional<uint64_t> restore_step,
                                                   int position = -1);

}  // namespace bulwark::controller
