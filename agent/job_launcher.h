// Launches a job's mpirun when this agent is the job's launcher, and stops a job's ranks on
// this node. A launch runs in its own process group with its output teed to
// <work_dir>/<job>.<attempt>.log; a thread per launch reads the output and reports, as
// events: the ranks restored their state (the trainer's "restored step" line), the first
// step done after the launch (its first `{"step":…}` line), each training anomaly the ranks
// rolled back from (an `{"anomaly":…}` line), and the exit with its code and the last step
// line. Thread-safe.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <climits>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace bulwark::agent {

// A rank process of a job on this node, as its environment names it.
struct RankProcess {
  pid_t pid = 0;
  std::string job;
  int rank = -1;  // OMPI_COMM_WORLD_RANK
  int attempt = 0;
};

class JobLauncher {
 public:
  using EventSink = std::function<void(nlohmann::json event)>;
  // `procfs` is /proc (tests may point elsewhere), used to find a job's ranks by environment.
  // `agent_socket` is this agent's hook socket, which its ranks carry as BULWARK_AGENT_SOCKET:
  // several local clusters on one machine share node names and job ids, and a stop must
  // not kill another cluster's ranks. Empty: the job id and node name alone decide.
  JobLauncher(std::string node, std::string agent_socket, std::string work_dir, std::string procfs, EventSink sink);
  ~JobLauncher();  // kills what it launched, joins its threads

  // Starts argv (mpirun …). A launch of the same job still running is killed first: only
  // the newest attempt of a job runs.
  Result<nlohmann::json> Launch(const std::string& job, int attempt, const std::vector<std::string>& argv);
  // Kills the job's launch on this agent (its whole process group) and every process on
  // this node whose environment has BULWARK_JOB_ID=job, BULWARK_NODE=<this node> and
  // BULWARK_AGENT_SOCKET=<this agent's socket>, and
  // waits up to `wait_ms` for them to be gone. Returns {killed: [pids], launch_killed}.
  // Only attempts up to `up_to_attempt` (BULWARK_ATTEMPT, the launch's attempt): a stop
  // that reaches the node after the job was relaunched must not kill the relaunch.
  nlohmann::json Stop(const std::string& job, int64_t wait_ms, int up_to_attempt = INT_MAX);
  // Freezes (SIGSTOP) the job's processes on this node, for a planned stop that must lose
  // no finished step: they hold still while their newest snapshot is protected.
  nlohmann::json Pause(const std::string& job, int up_to_attempt = INT_MAX);
  // The rank processes on this node that belong to this agent (same markers as Stop), of
  // every job, newest attempt first, then by rank.
  std::vector<RankProcess> Ranks() const;
  // Whether `pid` was killed by a Stop: its ring vanishing is no crash.
  bool WasStopped(pid_t pid) const;

 private:
  struct Launch_ {
    int attempt = 0;
    pid_t pgid = 0;
    std::thread reader;
  };
  void Watch(std::string job, int attempt, pid_t pid, int out_fd, std::string log_path);
  std::vector<pid_t> FindJobProcesses(const std::string& job, int up_to_attempt) const;
  // Calls `visit` for every process that carries this node's and this agent's markers.
  void ForEachOwnProcess(const std::function<void(pid_t, const std::string& env)>& visit) const;

  std::string node_, agent_socket_, work_dir_, procfs_;
  EventSink sink_;
  mutable std::mutex mu_;
  std::map<std::string, Launch_> launches_;  // by job
  std::vector<std::thread> finished_;        // readers of replaced launches, joined at the end
  std::set<pid_t> stopped_;
};

}  // namespace bulwark::agent
