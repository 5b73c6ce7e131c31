// Starts a program in a process group of its own (so a stop reaches whatever it starts: an
// MPI launcher and its ranks), its stdout and stderr together on one pipe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::agent {

struct Spawned {
  pid_t pid = 0;   // also the process group id
  int output = -1;  // read end of the pipe; the caller closes it
};

// Error when the program is not an executable file or cannot be started.
Result<Spawned> SpawnInOwnGroup(const std::vector<std::string>& argv);

}  // namespace bulwark::agent
