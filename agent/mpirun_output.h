// Facts the launching agent reads from mpirun's own output. When a rank dies, Open MPI's
// mpirun names it before tearing the job down:
//
//   mpirun noticed that process rank 2 with PID 24847 on node node-03 exited on signal 9 (Killed).
//
// That line is the only witness to a rank that died before its hook registered a ring
// (during MPI_Init or a restore), so the agent passes it on with the job's exit. Pure.
#pragma once

#include <optional>
#include <string>

namespace bulwark::agent {

struct RankDeath {
  int rank = -1;
  long pid = 0;
  std::string node;  // as mpirun's host list names it: the Bulwark node name
  int signal = 0;
};

// The death a line of mpirun's output reports, if it is one.
std::optional<RankDeath> ParseMpirunRankDeath(const std::string& line);

}  // namespace bulwark::agent
