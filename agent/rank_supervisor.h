// Starts, watches and stops the training ranks of this node, as child processes in their
// own process groups (so a stop reaches whatever a rank started). Thread-safe.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::agent {

struct RankExit {
  int rank = 0;
  pid_t pid = 0;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool requested = false;  // stopped on command: not a crash
};

class RankSupervisor {
 public:
  // `base_env` goes to every rank (the agent socket, say), before a start's own env.
  RankSupervisor(std::string node, std::string work_dir, std::map<std::string, std::string> base_env = {});

  // Starts `count` ranks numbered first_rank..; each gets BULWARK_NODE, BULWARK_RANK,
  // BULWARK_LOCAL_RANK and `env`, with output in <work_dir>/rank-<rank>.log.
  Result<nlohmann::json> Start(const std::vector<std::string>& argv, int count, int first_rank,
                               const std::map<std::string, std::string>& env);
  // SIGTERM to every rank's group, SIGKILL after grace_ms; returns how many were running.
  int Stop(int64_t grace_ms);
  // Collects ranks that exited since the last call (never blocks).
  std::vector<RankExit> Reap();
  size_t running() const;
  nlohmann::json Status() const;

 private:
  struct Rank {
    int rank;
    pid_t pid;
    int64_t started_ms;
  };
  std::vector<RankExit> ReapLocked();

  std::string node_;
  std::string work_dir_;
  std::map<std::string, std::string> base_env_;
  mutable std::mutex mutex_;
  std::vector<Rank> ranks_;
  std::vector<RankExit> exited_;  // reaped during Stop, reported by the next Reap
};

}  // namespace bulwark::agent
