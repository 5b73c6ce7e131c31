#include "agent/job_launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/mpirun_output.h"
#include "agent/spawn.h"
#include "common/clock.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;

// The value of `key` in an environ block (NUL-separated KEY=VALUE), or "".
std::string EnvValue(const std::string& block, const std::string& key) {
  const std::string head = key + "=";
  size_t at = 0;
  while (at < block.size()) {
    const size_t end = block.find('\0', at);
    const size_t len = (end == std::string::npos ? block.size() : end) - at;
    if (len >= head.size() && block.compare(at, head.size(), head) == 0) return block.substr(at + head.size(), len - head.size());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

// Whether a NUL-separated environment block holds exactly `key_eq_value` (KEY=VALUE).
bool EnvHas(const std::string& block, const std::string& key_eq_value) {
  size_t at = 0;
  while (at < block.size()) {
    const size_t end = block.find('\0', at);
    const size_t len = (end == std::string::npos ? block.size() : end) - at;
    if (len == key_eq_value.size() && block.compare(at, len, key_eq_value) == 0) return true;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return false;
}

// Gone, or a zombie waiting for its parent: either way it runs no more.
bool Gone(const std::string& procfs, pid_t pid) {
  std::ifstream stat(procfs + "/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z';
}

}  // namespace

JobLauncher::JobLauncher(std::string node, std::string agent_socket, std::string work_dir, std::string procfs,
                         EventSink sink)
    : node_(std::move(node)),
      agent_socket_(std::move(agent_socket)),
      work_dir_(std::move(work_dir)),
      procfs_(std::move(procfs)),
      sink_(std::move(sink)) {}

JobLauncher::~JobLauncher() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [job, launch] : launches_) {
      ::kill(-launch.pgid, SIGKILL);
      threads.push_back(std::move(launch.reader));
    }
    for (auto& t : finished_) threads.push_back(std::move(t));
  }
  for (auto& t : threads)
    if (t.joinable()) t.join();
}

Result<json> JobLauncher::Launch(const std::string& job, int attempt, const std::vector<std::string>& argv) {
  // An older attempt still running would fight the new one for its ranks' memory, and its
  // MPI daemons, dying, for their session directories: it is killed and waited for.
  Stop(job, 0);
  pid_t old_group = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = launches_.find(job);
    if (it != launches_.end()) old_group = it->second.pgid;
  }
  for (int i = 0; old_group > 0 && i < 1500 && ::kill(-old_group, 0) == 0; ++i) ::usleep(2000);
  auto spawned = SpawnInOwnGroup(argv);
  if (!spawned.ok()) return Status::Error("launch_job: " + spawned.status().message());
  const pid_t pid = spawned->pid;
  const int output = spawned->output;
  const std::string log_path = work_dir_ + "/" + job + "." + std::to_string(attempt) + ".log";
  std::lock_guard<std::mutex> lock(mu_);
  Launch_& launch = launches_[job];
  if (launch.reader.joinable()) finished_.push_back(std::move(launch.reader));
  launch.attempt = attempt;
  launch.pgid = pid;
  launch.reader = std::thread([this, job, attempt, pid, fd = output, log_path] { Watch(job, attempt, pid, fd, log_path); });
  return json{{"job", job}, {"attempt", attempt}, {"pid", pid}, {"log", log_path}};
}

void JobLauncher::Watch(std::string job, int attempt, pid_t pid, int out_fd, std::string log_path) {
  std::FILE* log = std::fopen(log_path.c_str(), "w");
  std::FILE* out = ::fdopen(out_fd, "r");
  auto event = [&](const char* kind, json detail) {
    detail["job"] = job;
    detail["attempt"] = attempt;
    sink_({{"kind", kind}, {"time_ms", WallMs()}, {"detail", std::move(detail)}});
  };
  bool first_step_seen = false;
  std::string last_step_line;
  json first_death;  // the first rank death mpirun reported
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while (out && (n = ::getline(&line, &cap, out)) > 0) {
    if (log) {
      std::fwrite(line, 1, static_cast<size_t>(n), log);
      std::fflush(log);
    }
    std::string text(line, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.rfind("{\"step\":", 0) == 0) {
      last_step_line = text;
      if (!first_step_seen) {
        first_step_seen = true;
        json step = json::parse(text, nullptr, false);
        event("job.first_step", step.is_object() ? step : json{{"line", text}});
      }
    } else if (text.rfind("{\"anomaly\":", 0) == 0) {
      // The trainer rolled back from an anomalous step: the controller counts it and keeps
      // the batches skipped for later relaunches.
      json anomaly = json::parse(text, nullptr, false);
      event("job.anomaly", anomaly.is_object() ? anomaly : json{{"line", text}});
    } else if (const size_t at = text.find("restored step "); at != std::string::npos) {
      event("job.restored", {{"step", std::strtoll(text.c_str() + at + 14, nullptr, 10)}, {"line", text}});
    } else if (text.find("nothing restored from memory") != std::string::npos) {
      event("job.restored", {{"step", nullptr}, {"line", text}});
    } else if (auto death = ParseMpirunRankDeath(text); death && first_death.is_null()) {
      first_death = {{"rank", death->rank}, {"pid", death->pid}, {"node", death->node}, {"signal", death->signal}};
    }
  }
  std::free(line);
  if (out) std::fclose(out);
  else ::close(out_fd);
  if (log) std::fclose(log);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  json detail = {{"exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : -1},
                 {"signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0},
                 {"log", log_path}};
  json last = json::parse(last_step_line, nullptr, false);
  if (last.is_object()) detail["last"] = last;
  if (!first_death.is_null()) detail["rank_died"] = first_death;  // mpirun's word on which rank went first
  event("job.exited", detail);
}

void JobLauncher::ForEachOwnProcess(const std::function<void(pid_t, const std::string& env)>& visit) const {
  DIR* dir = ::opendir(procfs_.c_str());
  if (!dir) return;
  const std::string want_node = "BULWARK_NODE=" + node_, want_agent = "BULWARK_AGENT_SOCKET=" + agent_socket_;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    std::ifstream in(procfs_ + "/" + e->d_name + "/environ", std::ios::binary);
    std::stringstream block;
    block << in.rdbuf();
    const std::string env = block.str();
    if (EnvHas(env, want_node) && (agent_socket_.empty() || EnvHas(env, want_agent))) visit(static_cast<pid_t>(pid), env);
  }
  ::closedir(dir);
}

std::vector<pid_t> JobLauncher::FindJobProcesses(const std::string& job, int up_to_attempt) const {
  std::vector<pid_t> pids;
  const std::string want_job = "BULWARK_JOB_ID=" + job;
  ForEachOwnProcess([&](pid_t pid, const std::string& env) {
    // A newer attempt than the one to stop is left alone (a stop that arrives late).
    if (EnvHas(env, want_job) && std::atoi(EnvValue(env, "BULWARK_ATTEMPT").c_str()) <= up_to_attempt) pids.push_back(pid);
  });
  return pids;
}

std::vector<RankProcess> JobLauncher::Ranks() const {
  std::vector<RankProcess> ranks;
  ForEachOwnProcess([&](pid_t pid, const std::string& env) {
    const std::string job = EnvValue(env, "BULWARK_JOB_ID"), rank = EnvValue(env, "OMPI_COMM_WORLD_RANK");
    if (job.empty() || rank.empty() || Gone(procfs_, pid)) return;
    ranks.push_back({pid, job, std::atoi(rank.c_str()), std::atoi(EnvValue(env, "BULWARK_ATTEMPT").c_str())});
  });
  std::sort(ranks.begin(), ranks.end(), [](const RankProcess& a, const RankProcess& b) {
    return a.attempt != b.attempt ? a.attempt > b.attempt : a.rank < b.rank;
  });
  return ranks;
}

json JobLauncher::Stop(const std::string& job, int64_t wait_ms, int up_to_attempt) {
  bool launch_killed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = launches_.find(job);
    if (it != launches_.end() && it->second.pgid > 0 && it->second.attempt <= up_to_attempt) {
      launch_killed = ::kill(-it->second.pgid, SIGKILL) == 0;
    }
  }
  std::vector<pid_t> killed = FindJobProcesses(job, up_to_attempt);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (pid_t p : killed) stopped_.insert(p);
  }
  for (pid_t p : killed) ::kill(p, SIGKILL);
  const int64_t until = MonotonicMs() + wait_ms;
  for (pid_t p : killed) {
    while (!Gone(procfs_, p) && MonotonicMs() < until) ::usleep(2000);
  }
  json pids = json::array();
  for (pid_t p : killed) pids.push_back(p);
  return {{"job", job}, {"killed", pids}, {"launch_killed", launch_killed}};
}

json JobLauncher::Pause(const std::string& job, int up_to_attempt) {
  json pids = json::array();
  for (pid_t p : FindJobProcesses(job, up_to_attempt)) {
    if (::kill(p, SIGSTOP) == 0) pids.push_back(p);
  }
  return {{"job", job}, {"paused", pids}};
}

bool JobLauncher::WasStopped(pid_t pid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_.count(pid) > 0;
}

}  // namespace bulwark::agent
