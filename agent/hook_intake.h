// The agent's service around the hooks: a thread that drains every ring into collective
// statistics, watches the call each rank is inside, and raises events at once — a local
// hang (a rank inside one call past the threshold) or a ring whose writer vanished without
// finishing (a crashed rank). Telemetry, /metrics and report_status read from it.
#pragma once

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/collective_stats.h"
#include "agent/metric_families.h"
#include "agent/ring_intake.h"

namespace bulwark::agent {

struct HookIntakeOptions {
  std::string socket;          // where hooked processes register their rings
  int64_t local_hang_ms = 60000;
  std::string procfs_root = "/proc";  // where each rank's process state is read
};

class HookIntake : private IntakeSink {
 public:
  using EventFn = std::function<void(nlohmann::json event)>;  // {"kind", "time_ms", "detail"}
  using LogFn = std::function<void(const std::string&)>;

  static Result<std::unique_ptr<HookIntake>> Start(const HookIntakeOptions& options, EventFn on_event, LogFn log);
  ~HookIntake();

  // Drains, watches and reports until *stop; run on its own thread.
  void Run(const std::atomic<bool>* stop);

  // Per rank and communicator, the statistics now and the timings of the calls completed
  // since the last summary, with each rank's process state (ranks that finished since the
  // last summary included, then dropped); nullopt when there is no hooked rank.
  std::optional<TelemetryBatch> Summary(int64_t wall_ms);
  nlohmann::json StatusJson() const;
  MetricFamilies Metrics() const;

 private:
  HookIntake(HookIntakeOptions options, std::unique_ptr<RingIntake> intake, EventFn on_event, LogFn log);
  void OnRingOpened(const RingOrigin& origin) override;
  void OnEvents(const RingOrigin& origin, const ring::Event* events, size_t count) override;
  void OnRingClosed(const RingOrigin& origin, uint64_t drops, const std::string& why) override;
  void OnRingRefused(const std::string& why) override;

  HookIntakeOptions options_;
  std::unique_ptr<RingIntake> intake_;
  EventFn on_event_;
  LogFn log_;
  mutable std::mutex mu_;
  CollectiveStats stats_;
  // Every completed call's time inside, by hook (pmpi, nccl) and operation: bounded labels.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& durations_;
  std::map<std::pair<std::string, ring::Op>, prometheus::Histogram*> duration_by_kind_;
  uint64_t records_ = 0, drops_ = 0, rings_opened_ = 0, rings_lost_ = 0, rings_refused_ = 0, local_hangs_ = 0;
};

}  // namespace bulwark::agent
