// The agent's daemon loops. One thread registers, heartbeats, ships buffered telemetry and
// events, and reaps exited ranks; a second long-polls the controller for commands and runs
// them. While the controller is away both keep going: ranks keep running, telemetry and
// events wait in bounded buffers (oldest dropped and counted), and the agent re-registers
// with jittered backoff. Re-registration is idempotent, and happens whenever the
// controller answers with a new instance id (it restarted) or does not know the node.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent_config.h"
#include "agent/fault_injector.h"
#include "agent/hook_intake.h"
#include "agent/job_launcher.h"
#include "agent/rank_supervisor.h"
#include "agent/self_check.h"
#include "agent/snapshot_service.h"
#include "common/node_info.h"

namespace bulwark::agent {

// Drops the oldest entry when full, and counts what it dropped.
class BoundedBuffer {
 public:
  explicit BoundedBuffer(size_t capacity) : capacity_(capacity) {}
  void Push(nlohmann::json item) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (items_.size() >= capacity_) {
      items_.pop_front();
      ++dropped_;
    }
    items_.push_back(std::move(item));
  }
  // Up to `n` oldest items, without removing them.
  nlohmann::json Peek(size_t n) const {
    std::lock_guard<std::mutex> lock(mutex_);
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < items_.size() && i < n; ++i) out.push_back(items_[i]);
    return out;
  }
  // Removes the `n` oldest (after they were delivered).
  void Pop(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < n && !items_.empty(); ++i) items_.pop_front();
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }
  uint64_t dropped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<nlohmann::json> items_;
  uint64_t dropped_ = 0;
};

struct AgentCounters {
  std::atomic<uint64_t> registrations{0};
  std::atomic<uint64_t> heartbeats_sent{0};
  std::atomic<uint64_t> heartbeat_failures{0};
  std::atomic<uint64_t> commands_run{0};
};

class Agent {
 public:
  Agent(AgentConfig config, NodeInfo node, std::string token);

  // Opens the socket the hooks register their rings on; call before Run.
  Status StartHooks();
  // Opens the snapshot data plane and picks up parity left by a previous run; before Run.
  Status StartSnapshots();
  SnapshotService* snapshots() { return snapshots_.get(); }

  // Runs until *stop becomes true; then stops the local ranks and returns.
  void Run(const std::atomic<bool>* stop);

  bool registered() const { return registered_; }
  const NodeInfo& node() const { return node_; }
  std::string MetricsText() const;

 private:
  void MainLoop(const std::atomic<bool>* stop);
  void CommandLoop(const std::atomic<bool>* stop);
  nlohmann::json Execute(const nlohmann::json& command, bool* ok);
  void RecordRankExits();
  // Removes this node's rank slots of `job` from shared memory; returns how many files.
  int ForgetRankSlots(const std::string& job);
  SelfCheckOptions SelfCheckDefaults() const;
  // Buffers an event and wakes the main loop to ship it now rather than at the next beat.
  void PushEvent(nlohmann::json event);
  void SleepUntilEventOrStop(int64_t ms, const std::atomic<bool>* stop);

  AgentConfig config_;
  NodeInfo node_;
  std::string token_;
  int64_t started_mono_ms_;
  std::atomic<bool> registered_{false};
  std::mutex instance_mutex_;
  std::string controller_instance_;
  RankSupervisor ranks_;
  BoundedBuffer telemetry_;
  BoundedBuffer events_;
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  AgentCounters counters_;
  std::unique_ptr<HookIntake> hooks_;
  JobLauncher launcher_;
  std::mutex prefetch_mutex_;
  std::vector<std::thread> prefetches_;  // snapshot rebuilds started ahead of a relaunch  // jobs this agent launches (as their launcher) and stops
  std::unique_ptr<SnapshotService> snapshots_;
  FaultInjector injector_;  // after launcher_, which it asks for this node's ranks
};

}  // namespace bulwark::agent
