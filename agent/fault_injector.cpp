#include "agent/fault_injector.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "agent/run_capturing.h"
#include "agent/spawn.h"
#include "common/clock.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kSlowPeriodMs = 100;

void SignalAll(const std::vector<pid_t>& pids, int sig) {
  for (pid_t p : pids) ::kill(p, sig);
}

json Pids(const std::vector<pid_t>& pids) {
  json out = json::array();
  for (pid_t p : pids) out.push_back(p);
  return out;
}

// The step a parity file holds: "<prefix>.<job>.g<G>.p<I>.s<STEP>" (-1 if not one).
int64_t ParityStep(const std::string& name, const std::string& head) {
  if (name.rfind(head, 0) != 0) return -1;
  const size_t g = name.find(".g", head.size() - 1), p = name.find(".p", g == std::string::npos ? 0 : g),
               s = name.rfind(".s");
  if (g == std::string::npos || p == std::string::npos || s == std::string::npos || s < p) return -1;
  char* end = nullptr;
  const long long step = std::strtoll(name.c_str() + s + 2, &end, 10);
  return end && *end == '\0' && end != name.c_str() + s + 2 ? step : -1;
}

std::string Joined(const Command& command) {
  std::string text;
  for (const auto& part : command) text += (text.empty() ? "" : " ") + part;
  return text;
}

// Runs each command in order; the first that fails stops the rest and is named.
Status RunAll(const std::vector<Command>& commands) {
  for (const auto& c : commands) {
    auto run = RunCapturing(c, 10000);
    if (!run.ok()) return Status::Error(Joined(c) + ": " + run.status().message());
    if (run->exit_code != 0) return Status::Error(Joined(c) + " failed: " + run->output);
  }
  return Status::Ok();
}

// Waits up to timeout_ms for a line starting with "ready" on a started program's output;
// returns what it printed instead when it ends or stays silent.
Status AwaitReady(int fd, int64_t timeout_ms) {
  std::string seen;
  const int64_t until = MonotonicMs() + timeout_ms;
  while (MonotonicMs() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, until - MonotonicMs()))) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
    if (seen.rfind("ready", 0) == 0 && seen.find('\n') != std::string::npos) return Status::Ok();
  }
  return Status::Error(seen.empty() ? "no answer" : seen);
}

}  // namespace

FaultInjector::FaultInjector(InjectorEnvironment env) : env_(std::move(env)) {
  if (env_.link_interface.empty()) return;
  // An agent killed while a link fault lasted (kill-node, a crash) left its rules behind;
  // with a partition's, the restarted agent could never reach the controller again.
  LinkFaultTools tools;
  tools.interface = env_.link_interface;
  tools.netem = env_.netem_binary.empty() ? "bulwark-netem" : env_.netem_binary;
  for (const json& args : {json{{"kind", "partition-node"}}, json{{"kind", "slow-link"}, {"delay_ms", 1}},
                           json{{"kind", "flap-link"}, {"period_ms", 2}, {"down_ms", 1}}}) {
    auto plan = PlanLinkFault(args, tools);
    if (!plan.ok()) continue;
    for (const auto& command : plan->heal) {
      // iptables -D takes off one copy of a rule: repeat while one is there (a few at most).
      const int tries = command[0] == tools.iptables ? 4 : 1;
      for (int i = 0; i < tries; ++i) {
        if (!RunAll({command}).ok()) break;
      }
    }
  }
}

FaultInjector::~FaultInjector() {
  std::vector<std::unique_ptr<Lasting>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, f] : lasting_) {
      f->stop = true;
      all.push_back(std::move(f));
    }
    lasting_.clear();
  }
  wake_.notify_all();
  for (auto& f : all) {
    if (f->worker.joinable()) f->worker.join();
  }
  for (auto& t : detached_) {
    if (t.joinable()) t.join();
  }
}

Result<RankProcess> FaultInjector::ChooseRank(const json& args) const {
  const std::string job = args.value("job", std::string());
  const bool any_rank = !args.contains("rank") || args["rank"].is_null();
  const int rank = any_rank ? -1 : args["rank"].get<int>();
  const auto ranks = env_.ranks();
  // Newest attempt first: a rank of a replaced attempt that lingers is not the target.
  int newest = -1;
  for (const auto& r : ranks) {
    if (!job.empty() && r.job != job) continue;
    if (newest < 0) newest = r.attempt;
    if (r.attempt == newest && (any_rank || r.rank == rank)) return r;
  }
  std::string what = any_rank ? "no rank" : "no rank " + std::to_string(rank);
  return Status::Error(what + (job.empty() ? " of any job" : " of job " + job) + " runs on this node");
}

Result<json> FaultInjector::Apply(const json& args) {
  const std::string id = args.value("id", std::string());
  const std::string kind = args.value("kind", std::string());
  if (id.empty()) return Status::Error("an injection needs an id");
  ReapEnded();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lasting_.count(id)) return Status::Error("injection " + id + " is already in force here");
  }
  if (kind == "kill-node") return KillNode();
  if (kind == "corrupt-fragment") return CorruptFragment(args);
  if (IsLinkFault(kind)) return StartLinkFault(args);
  if (kind == "kill-rank" || kind == "hang-rank" || kind == "slow-rank") {
    auto target = ChooseRank(args);
    if (!target.ok()) return target.status();
    if (kind == "kill-rank") {
      if (::kill(target->pid, SIGKILL) != 0) return Status::Error("cannot kill pid " + std::to_string(target->pid));
      return json{{"job", target->job}, {"rank", target->rank}, {"killed", Pids({target->pid})}};
    }
    return StartLasting(args, target.value());
  }
  return Status::Error("this agent cannot inject '" + kind + "'");
}

Result<json> FaultInjector::KillNode() {
  // The node dies whole: its ranks, the snapshot memory it held, then the agent itself.
  std::vector<pid_t> pids;
  for (const auto& r : env_.ranks()) pids.push_back(r.pid);
  SignalAll(pids, SIGKILL);
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(env_.shm_dir, ec)) {
    if (e.path().filename().string().rfind(env_.shm_prefix + ".", 0) == 0 && fs::remove(e.path(), ec)) ++removed;
  }
  std::lock_guard<std::mutex> lock(mu_);
  detached_.emplace_back([die = env_.die] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the answer goes out first
    if (die) die();
  });
  return json{{"killed", Pids(pids)}, {"memory_files_removed", removed}, {"agent", "dies in 300 ms"}};
}

Result<json> FaultInjector::CorruptFragment(const json& args) {
  // The newest parity this node holds for its peers (of the job, if one is named).
  const std::string job = args.value("job", std::string());
  const std::string head = env_.shm_prefix + "." + job;
  std::string best;
  int64_t best_step = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(env_.shm_dir, ec)) {
    const std::string name = e.path().filename().string();
    const int64_t step = ParityStep(name, job.empty() ? env_.shm_prefix + "." : head + ".");
    if (step > best_step) {
      best_step = step;
      best = e.path().string();
    }
  }
  if (best.empty()) return Status::Error("this node holds no parity fragment" + (job.empty() ? std::string() : " of job " + job));
  const uintmax_t size = fs::file_size(best, ec);
  if (ec || size == 0) return Status::Error(best + ": cannot read its size");
  const uintmax_t offset = size / 2;  // past the header, inside the coded bytes
  std::fstream f(best, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  if (!f.seekg(static_cast<std::streamoff>(offset)) || !f.read(&c, 1)) return Status::Error(best + ": cannot read byte " + std::to_string(offset));
  c = static_cast<char>(c ^ 0x5a);
  if (!f.seekp(static_cast<std::streamoff>(offset)) || !f.write(&c, 1)) return Status::Error(best + ": cannot write byte " + std::to_string(offset));
  return json{{"file", best}, {"offset", offset}, {"step", best_step}};
}

Result<json> FaultInjector::StartLasting(const json& args, const RankProcess& target) {
  auto f = std::make_unique<Lasting>();
  f->id = args.value("id", std::string());
  f->kind = args.value("kind", std::string());
  f->pids = {target.pid};
  f->duration_ms = args.value("duration_ms", int64_t{0});
  f->percent = args.value("percent", 100);
  {
    // Two at once on one process would undo each other (a slow-rank's SIGCONT ends a hang).
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, other] : lasting_) {
      if (!other->stop && std::find(other->pids.begin(), other->pids.end(), target.pid) != other->pids.end()) {
        return Status::Error("rank " + std::to_string(target.rank) + " of " + target.job + " is already under " + id + " (" + other->kind +
                             "): heal that first");
      }
    }
  }
  // A hang is in force when Apply returns: the answer can say the rank is stopped.
  if (f->kind == "hang-rank" && ::kill(target.pid, SIGSTOP) != 0) {
    return Status::Error("cannot stop pid " + std::to_string(target.pid));
  }
  json done = {{"job", target.job}, {"rank", target.rank}, {"pids", Pids(f->pids)}, {"duration_ms", f->duration_ms}};
  if (f->kind == "slow-rank") done["percent"] = f->percent;
  std::lock_guard<std::mutex> lock(mu_);
  Lasting* raw = f.get();
  lasting_[f->id] = std::move(f);
  raw->worker = std::thread([this, raw] { RunLasting(raw); });
  return done;
}

Result<json> FaultInjector::StartLinkFault(const json& args) {
  auto f = std::make_unique<Lasting>();
  f->id = args.value("id", std::string());
  f->kind = args.value("kind", std::string());
  f->duration_ms = args.value("duration_ms", int64_t{0});
  LinkFaultTools tools;
  tools.interface = env_.link_interface;
  tools.netem = env_.netem_binary;
  auto plan = PlanLinkFault(args, tools);
  if (!plan.ok()) return plan.status();
  f->link = plan.value();
  {
    // Two faults on one link would undo each other's rules and fight over the queues.
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, other] : lasting_) {
      if (!other->stop && IsLinkFault(other->kind)) {
        return Status::Error(env_.link_interface + " is already under " + id + " (" + other->kind + "): heal that first");
      }
    }
  }
  if (!f->link.netem.empty()) {
    auto netem = SpawnInOwnGroup(f->link.netem);
    if (!netem.ok()) return Status::Error("cannot start bulwark-netem: " + netem.status().message());
    f->netem = netem->pid;
    f->netem_output = netem->output;
    if (Status ready = AwaitReady(f->netem_output, 5000); !ready.ok()) {
      EndLinkFault(f.get());
      return Status::Error("bulwark-netem did not start: " + ready.message());
    }
  }
  if (f->link.start_after_ms == 0) {
    if (Status s = RunAll(f->link.apply); !s.ok()) {
      EndLinkFault(f.get());  // what did apply comes off again
      return s;
    }
  } else if (!f->link.apply.empty()) {
    // Checked now, done once the answer is out: a partition's rules stop the answer too.
    if (Status s = RunAll({{tools.iptables, "-w", "-n", "-L", "OUTPUT"}}); !s.ok()) return s;
  }
  json done = {{"interface", env_.link_interface}, {"duration_ms", f->duration_ms}};
  if (f->link.start_after_ms > 0) done["starts_in_ms"] = f->link.start_after_ms;
  for (const char* key : {"delay_ms", "rate_mbit", "loss_percent", "period_ms", "down_ms"}) {
    if (args.contains(key)) done[key] = args[key];
  }
  if (f->netem > 0) done["netem_pid"] = f->netem;
  std::lock_guard<std::mutex> lock(mu_);
  Lasting* raw = f.get();
  lasting_[f->id] = std::move(f);
  raw->worker = std::thread([this, raw] { RunLasting(raw); });
  return done;
}

void FaultInjector::EndLinkFault(Lasting* f) {
  // Each undo on its own: one rule already gone (or never added) must not keep the rest.
  for (const auto& command : f->link.heal) (void)RunAll({command});
  if (f->netem > 0) {
    ::kill(f->netem, SIGTERM);
    ::waitpid(f->netem, nullptr, 0);
    f->netem = 0;
  }
  if (f->netem_output >= 0) ::close(f->netem_output);
  f->netem_output = -1;
}

void FaultInjector::RunLinkFault(Lasting* f, std::unique_lock<std::mutex>& lock, int64_t until) {
  // until: when the fault ends (INT64_MAX: when healed)
  const auto wait = [&](int64_t ms) {
    const int64_t left = std::min(ms, until - MonotonicMs());
    if (left > 0 && !f->stop) wake_.wait_for(lock, std::chrono::milliseconds(left));
  };
  if (f->link.start_after_ms > 0) {
    wake_.wait_for(lock, std::chrono::milliseconds(f->link.start_after_ms), [&] { return f->stop; });
    until = until == INT64_MAX ? until : until + f->link.start_after_ms;  // the duration counts from the cut
    if (!f->stop) {
      lock.unlock();
      (void)RunAll(f->link.apply);  // checked when accepted (a failure here leaves the link as it was)
      lock.lock();
    }
  }
  if (f->link.period_ms > 0) {
    while (!f->stop && MonotonicMs() < until) {
      lock.unlock();
      (void)RunAll({f->link.down});
      lock.lock();
      wait(f->link.down_ms);
      lock.unlock();
      (void)RunAll({f->link.up});
      lock.lock();
      wait(f->link.period_ms - f->link.down_ms);
    }
  } else {
    while (!f->stop && MonotonicMs() < until) wait(1000);
  }
  lock.unlock();
  EndLinkFault(f);
  lock.lock();
}

void FaultInjector::RunLasting(Lasting* f) {
  const int64_t until = f->duration_ms > 0 ? MonotonicMs() + f->duration_ms : INT64_MAX;
  const auto wait = [&](std::unique_lock<std::mutex>& lock, int64_t ms) {
    const int64_t left = std::min(ms, until - MonotonicMs());
    if (left > 0 && !f->stop) wake_.wait_for(lock, std::chrono::milliseconds(left));
  };
  std::unique_lock<std::mutex> lock(mu_);
  if (IsLinkFault(f->kind)) {
    RunLinkFault(f, lock, until);
  } else if (f->kind == "hang-rank") {
    while (!f->stop && MonotonicMs() < until) wait(lock, 1000);
  } else {
    // Throttled like a CPU quota: stopped p/(100+p) of every period, so each unit of work
    // takes (100+p)% of its time.
    const int64_t stopped = kSlowPeriodMs * f->percent / (100 + f->percent);
    while (!f->stop && MonotonicMs() < until) {
      SignalAll(f->pids, SIGSTOP);
      wait(lock, stopped);
      SignalAll(f->pids, SIGCONT);
      wait(lock, kSlowPeriodMs - stopped);
    }
  }
  SignalAll(f->pids, SIGCONT);
  const std::string by = f->stop ? "heal" : "duration";
  f->stop = true;  // over: a later Heal finds it done
  lock.unlock();
  if (env_.event) {
    env_.event({{"kind", "injection_healed"},
                {"time_ms", WallMs()},
                {"detail", {{"id", f->id}, {"injection", f->kind}, {"by", by}, {"pids", Pids(f->pids)}}}});
  }
}

Result<json> FaultInjector::Heal(const std::string& id) {
  std::unique_ptr<Lasting> f;
  bool was_over = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lasting_.find(id);
    if (it == lasting_.end()) return Status::Error("no lasting injection " + id + " on this node");
    was_over = it->second->stop;
    it->second->stop = true;
    f = std::move(it->second);
    lasting_.erase(it);
  }
  wake_.notify_all();
  if (f->worker.joinable()) f->worker.join();
  json out = {{"id", id}, {"healed", true}};
  if (was_over) out["already"] = true;  // its duration had run out
  return out;
}

void FaultInjector::ReapEnded() {
  std::vector<std::unique_ptr<Lasting>> ended;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = lasting_.begin(); it != lasting_.end();) {
      if (it->second->stop) {
        ended.push_back(std::move(it->second));
        it = lasting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : ended) {
    if (f->worker.joinable()) f->worker.join();
  }
}

json FaultInjector::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  json out = json::array();
  for (const auto& [id, f] : lasting_) {
    if (!f->stop) out.push_back({{"id", id}, {"kind", f->kind}, {"pids", Pids(f->pids)}, {"duration_ms", f->duration_ms}});
  }
  return out;
}

}  // namespace bulwark::agent
