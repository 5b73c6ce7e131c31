#include "agent/run_capturing.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/spawn.h"
#include "common/clock.h"

namespace bulwark::agent {
namespace {

constexpr size_t kKeepBytes = 64 << 10;

void Append(std::string* out, const char* data, size_t n) {
  out->append(data, n);
  if (out->size() > 2 * kKeepBytes) out->erase(0, out->size() - kKeepBytes);
}

}  // namespace

Result<CapturedRun> RunCapturing(const std::vector<std::string>& argv, int64_t timeout_ms) {
  auto spawned = SpawnInOwnGroup(argv);
  if (!spawned.ok()) return spawned.status();
  const pid_t pid = spawned->pid;
  const int out = spawned->output;

  CapturedRun run;
  const int64_t deadline = MonotonicMs() + timeout_ms;
  bool open = true;
  while (open) {
    const int64_t left = deadline - MonotonicMs();
    if (left <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd p{out, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(out, buffer, sizeof(buffer));
    if (n > 0) {
      Append(&run.output, buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      open = false;  // every writer closed: the program and all it started are done
    }
  }
  ::close(out);
  // Output closed: the program is finishing; it still has until the deadline to exit.
  int status = 0;
  bool reaped = false;
  while (!run.timed_out && !reaped) {
    reaped = ::waitpid(pid, &status, WNOHANG) == pid;
    if (!reaped && MonotonicMs() >= deadline) run.timed_out = true;
    if (!reaped && !run.timed_out) ::usleep(5000);
  }
  if (!reaped) {
    ::kill(-pid, SIGKILL);  // the whole group: a launcher and the ranks it started
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (run.output.size() > kKeepBytes) run.output.erase(0, run.output.size() - kKeepBytes);
  if (WIFEXITED(status) && !run.timed_out) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status) && !run.timed_out) run.signal = WTERMSIG(status);
  return run;
}

}  // namespace bulwark::agent
