#include "agent/run_capturing.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  if (argv.empty()) return Status::Error("no program to run");
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::Error(argv[0] + " is not an executable file");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::Error(std::string("pipe failed: ") + std::strerror(errno));
  // Prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return Status::Error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(pipe_fds[1]);

  CapturedRun run;
  const int64_t deadline = MonotonicMs() + timeout_ms;
  bool open = true;
  while (open) {
    const int64_t left = deadline - MonotonicMs();
    if (left <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      Append(&run.output, buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      open = false;  // every writer closed: the program and all it started are done
    }
  }
  ::close(pipe_fds[0]);
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
