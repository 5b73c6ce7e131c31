#include "controller/launch_command.h"

#include <cstdio>

namespace bulwark::controller {
namespace {

std::string FormatFactor(double f) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", f);
  return text;
}

}  // namespace

std::map<std::string, std::string> RankEnvironment(const LaunchSettings& settings, const JobRecord& job,
                                                   const NodeInfo& node, std::optional<uint64_t> restore_step, int position) {
  std::map<std::string, std::string> env = job.spec.env;  // the job's own first: the contract wins
  env["BULWARK_JOB_ID"] = job.id;
  env["BULWARK_ATTEMPT"] = std::to_string(job.attempt);
  env["BULWARK_NODE"] = node.name;
  env["BULWARK_SNAPSHOT_EVERY"] = std::to_string(job.spec.snapshot_every_steps);
  if (!node.agent_url.empty()) env["BULWARK_AGENT_URL"] = node.agent_url;
  if (!node.hook_socket.empty()) env["BULWARK_AGENT_SOCKET"] = node.hook_socket;
  // The agent names its memory "/prefix.…"; shm clients take the prefix without the slash.
  const std::string& prefix = node.shm_prefix;
  if (!prefix.empty()) env["BULWARK_SNAPSHOT_PREFIX"] = prefix[0] == '/' ? prefix.substr(1) : prefix;
  if (job.spec.loss_spike_factor > 0) env["BULWARK_LOSS_SPIKE_FACTOR"] = FormatFactor(job.spec.loss_spike_factor);
  if (!job.skip_batches.empty()) {
    std::string list;
    for (int64_t b : job.skip_batches) list += (list.empty() ? "" : ",") + std::to_string(b);
    env["BULWARK_SKIP_BATCHES"] = list;
  }
  if (!job.stage_layers.empty()) {
    // A pipeline framework reads its stage split from here ("10,10,10,2": layers of stage 0, 1, ...).
    std::string layers;
    for (int l : job.stage_layers) layers += (layers.empty() ? "" : ",") + std::to_string(l);
    env["BULWARK_PIPELINE_LAYERS"] = layers;
  }
  if (restore_step) env["BULWARK_RESTORE_STEP"] = std::to_string(*restore_step);
  else env.erase("BULWARK_RESTORE_STEP");
  env.erase("BULWARK_RESHARD_WORLD");
  env.erase("BULWARK_RESHARD_READS");
  if (restore_step && position >= 0 && job.recovery && job.recovery->reshard) {
    // "NEW:OLD+OLD,NEW:OLD" for this node's ranks: which old ranks' state each one reads.
    const Reshard& r = *job.recovery->reshard;
    std::string reads;
    for (int i = 0; i < job.spec.ranks_per_node; ++i) {
      const int rank = position * job.spec.ranks_per_node + i;
      auto it = r.reads.find(rank);
      if (it == r.reads.end()) continue;
      std::string old;
      for (int k : it->second) old += (old.empty() ? "" : "+") + std::to_string(k);
      reads += (reads.empty() ? "" : ",") + std::to_string(rank) + ":" + old;
    }
    env["BULWARK_RESHARD_WORLD"] = std::to_string(r.old_world);
    env["BULWARK_RESHARD_READS"] = reads;
  }
  if (!settings.hook_library.empty()) env["LD_PRELOAD"] = settings.hook_library;
  return env;
}

std::vector<std::string> BuildLaunchArgv(const LaunchSettings& settings, const JobRecord& job,
                                         const std::vector<NodeInfo>& nodes, std::optional<uint64_t> restore_step) {
  std::vector<std::string> argv = {settings.mpirun};
  if (!settings.rsh_agent.empty()) argv.insert(argv.end(), {"--mca", "plm_rsh_agent", settings.rsh_agent});
  argv.insert(argv.end(), settings.mpirun_args.begin(), settings.mpirun_args.end());
  const std::string per_node = std::to_string(job.spec.ranks_per_node);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) argv.push_back(":");
    argv.insert(argv.end(), {"-np", per_node, "--host", nodes[i].name + ":" + per_node, "env"});
    for (const auto& [key, value] : RankEnvironment(settings, job, nodes[i], restore_step, static_cast<int>(i))) {
      argv.push_back(key + "=" + value);
    }
    argv.insert(argv.end(), job.spec.command.begin(), job.spec.command.end());
  }
  return argv;
}

}  // namespace bulwark::controller
