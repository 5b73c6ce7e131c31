#include "agent/mpirun_output.h"

#include <cstdio>

namespace bulwark::agent {

std::optional<RankDeath> ParseMpirunRankDeath(const std::string& line) {
  const std::string lead = "mpirun noticed that process rank ";
  const size_t at = line.find(lead);
  if (at == std::string::npos) return std::nullopt;
  RankDeath d;
  char node[256] = {0};
  int used = 0;
  if (std::sscanf(line.c_str() + at, "mpirun noticed that process rank %d with PID %ld on node %255s exited on signal %d%n",
                  &d.rank, &d.pid, node, &d.signal, &used) != 4 || used == 0) {
    return std::nullopt;
  }
  d.node = node;
  if (d.rank < 0 || d.node.empty() || d.signal <= 0) return std::nullopt;
  return d;
}

}  // namespace bulwark::agent
