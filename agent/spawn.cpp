#include "agent/spawn.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bulwark::agent {

Result<Spawned> SpawnInOwnGroup(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::Error("no program to run");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::Error(argv[0] + " is not an executable file");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Error(std::string("pipe failed: ") + std::strerror(errno));
  // Prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::Error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    // Nothing else of the agent's: mpirun select()s on its own descriptors, and aborts
    // when they land past FD_SETSIZE behind a thousand inherited ones.
    ::close_range(3, ~0U, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: whichever of parent and child runs first
  ::close(fds[1]);
  return Spawned{pid, fds[0]};
}

}  // namespace bulwark::agent
