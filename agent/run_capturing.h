// Runs a program to completion in its own process group, its stdout and stderr captured
// together, killed with its whole group (an MPI launcher and its ranks) past a deadline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::agent {

struct CapturedRun {
  int exit_code = -1;     // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;  // killed by us at the deadline
  std::string output;      // stdout and stderr interleaved; the last 64 KiB
};

// Error only when the program could not be started at all (no such file, fork failed).
Result<CapturedRun> RunCapturing(const std::vector<std::string>& argv, int64_t timeout_ms);

}  // namespace bulwark::agent
