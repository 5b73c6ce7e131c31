#include "agent/rank_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/clock.h"

namespace bulwark::agent {

RankSupervisor::RankSupervisor(std::string node, std::string work_dir, std::map<std::string, std::string> base_env)
    : node_(std::move(node)), work_dir_(std::move(work_dir)), base_env_(std::move(base_env)) {}

Result<nlohmann::json> RankSupervisor::Start(const std::vector<std::string>& argv, int count, int first_rank,
                                             const std::map<std::string, std::string>& env) {
  if (argv.empty()) return Status::Error("no command to start");
  std::error_code ec;
  std::filesystem::create_directories(work_dir_, ec);
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json started = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    const int rank = first_rank + i;
    const std::string log = work_dir_ + "/rank-" + std::to_string(rank) + ".log";
    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    std::vector<std::string> env_strings = {"BULWARK_NODE=" + node_, "BULWARK_RANK=" + std::to_string(rank),
                                            "BULWARK_LOCAL_RANK=" + std::to_string(i)};
    for (const auto& [k, v] : base_env_) env_strings.push_back(k + "=" + v);
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) return Status::Error("cannot open " + log + ": " + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log_fd);
      return Status::Error(std::string("fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::close_range(3, ~0U, 0);  // nothing else of the agent's (sockets, shared memory) leaks in
      for (auto& e : env_strings) ::putenv(e.data());
      ::execvp(args[0], args.data());
      const char msg[] = "bulwark-agent: exec failed\n";
      (void)!::write(2, msg, sizeof(msg) - 1);
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent: no race with a Stop right after
    ::close(log_fd);
    ranks_.push_back({rank, pid, WallMs()});
    started.push_back({{"rank", rank}, {"pid", pid}, {"log", log}});
  }
  return nlohmann::json{{"ranks", started}};
}

std::vector<RankExit> RankSupervisor::ReapLocked() {
  std::vector<RankExit> out;
  for (auto it = ranks_.begin(); it != ranks_.end();) {
    int status = 0;
    if (::waitpid(it->pid, &status, WNOHANG) == it->pid) {
      RankExit e{it->rank, it->pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0};
      out.push_back(e);
      it = ranks_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<RankExit> RankSupervisor::Reap() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto out = std::move(exited_);
  exited_.clear();
  for (auto& e : ReapLocked()) out.push_back(e);
  return out;
}

int RankSupervisor::Stop(int64_t grace_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int count = static_cast<int>(ranks_.size());
  for (const auto& r : ranks_) ::kill(-r.pid, SIGTERM);
  const int64_t deadline = MonotonicMs() + grace_ms;
  while (!ranks_.empty() && MonotonicMs() < deadline) {
    for (auto& e : ReapLocked()) exited_.push_back({e.rank, e.pid, e.exit_code, e.signal, true});
    if (!ranks_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const auto& r : ranks_) ::kill(-r.pid, SIGKILL);
  while (!ranks_.empty()) {
    for (auto& e : ReapLocked()) exited_.push_back({e.rank, e.pid, e.exit_code, e.signal, true});
    if (!ranks_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return count;
}

size_t RankSupervisor::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ranks_.size();
}

nlohmann::json RankSupervisor::Status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : ranks_) out.push_back({{"rank", r.rank}, {"pid", r.pid}, {"started_ms", r.started_ms}});
  return out;
}

}  // namespace bulwark::agent
