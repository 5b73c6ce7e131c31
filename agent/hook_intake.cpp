#include "agent/hook_intake.h"

#include <fstream>

#include "common/clock.h"

namespace bulwark::agent {
namespace {

// The state letter of /proc/<pid>/stat (R, S, D, T, Z, ...); empty when the process is gone.
std::string ProcessState(const std::string& procfs_root, int64_t pid) {
  std::ifstream in(procfs_root + "/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos || paren + 2 >= stat.size()) return "";
  return stat.substr(paren + 2, 1);
}

}  // namespace

using nlohmann::json;

Result<std::unique_ptr<HookIntake>> HookIntake::Start(const HookIntakeOptions& options, EventFn on_event, LogFn log) {
  auto intake = RingIntake::Listen(options.socket);
  if (!intake.ok()) return intake.status();
  return std::unique_ptr<HookIntake>(
      new HookIntake(options, std::move(intake.value()), std::move(on_event), std::move(log)));
}

HookIntake::HookIntake(HookIntakeOptions options, std::unique_ptr<RingIntake> intake, EventFn on_event, LogFn log)
    : options_(std::move(options)),
      intake_(std::move(intake)),
      on_event_(std::move(on_event)),
      log_(std::move(log)),
      registry_(std::make_shared<prometheus::Registry>()),
      durations_(prometheus::BuildHistogram()
                     .Name("bulwark_agent_collective_duration_seconds")
                     .Help("Time ranks spent inside each completed collective, by hook (pmpi, nccl) and operation")
                     .Register(*registry_)) {}

HookIntake::~HookIntake() = default;

void HookIntake::Run(const std::atomic<bool>* stop) {
  while (!stop->load()) {
    intake_->Poll(50, this);
    std::vector<LocalHang> hangs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      intake_->ForEachInFlight(
          [&](const RingOrigin& origin, const ring::InFlight& call) { stats_.SetInFlight(origin.pid, call); });
      hangs = stats_.NewHangs(ring::MonotonicNs(), options_.local_hang_ms * 1000000);
      local_hangs_ += hangs.size();
    }
    for (const auto& h : hangs) {
      log_("rank " + std::to_string(h.world_rank) + " (pid " + std::to_string(h.pid) + ") has been inside " +
           ring::OpName(h.op) + " #" + std::to_string(h.seq) + " on communicator " + CommIdText(h.comm_id) + " for " +
           std::to_string(h.inside_ms) + " ms");
      on_event_({{"kind", "rank.local_hang"},
                 {"time_ms", WallMs()},
                 {"detail",
                  {{"rank", h.world_rank}, {"pid", h.pid}, {"comm", CommIdText(h.comm_id)}, {"seq", h.seq},
                   {"op", ring::OpName(h.op)}, {"inside_ms", h.inside_ms}, {"threshold_ms", options_.local_hang_ms}}}});
    }
  }
}

void HookIntake::OnRingOpened(const RingOrigin& origin) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++rings_opened_;
  }
  log_("hooked " + origin.source + " process pid " + std::to_string(origin.pid) + " (world rank " +
       std::to_string(origin.world_rank) + (origin.job.empty() ? "" : ", job " + origin.job) + ") registered its ring");
}

void HookIntake::OnEvents(const RingOrigin& origin, const ring::Event* events, size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.Add(origin.pid, origin.world_rank, events, count);
  records_ += count;
  // 10 µs (a small MPI call on one host) to 100 s (a collective held up by a hang).
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05,
                                                                   0.1,  0.5,  1,    5,    10,   100};
  for (size_t i = 0; i < count; ++i) {
    const ring::Event& e = events[i];
    if (e.exit_ns == 0 || e.exit_ns < e.enter_ns) continue;  // only entered so far
    auto& histogram = duration_by_kind_[{origin.source, e.op}];
    if (!histogram) histogram = &durations_.Add({{"hook", origin.source}, {"op", ring::OpName(e.op)}}, kBuckets);
    histogram->Observe(static_cast<double>(e.exit_ns - e.enter_ns) / 1e9);
  }
}

void HookIntake::OnRingClosed(const RingOrigin& origin, uint64_t drops, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.MarkGone(origin.pid);
    drops_ += drops;
    if (why != "finished") ++rings_lost_;
  }
  if (why == "finished") return;
  log_("hooked process pid " + std::to_string(origin.pid) + " (world rank " + std::to_string(origin.world_rank) +
       ") is gone: " + why);
  on_event_({{"kind", "rank.ring_lost"},
             {"time_ms", WallMs()},
             {"detail", {{"rank", origin.world_rank}, {"pid", origin.pid}, {"source", origin.source},
                         {"job", origin.job}, {"why", why}, {"drops", drops}}}});
}

void HookIntake::OnRingRefused(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++rings_refused_;
  }
  log_(why);
}

std::optional<TelemetryBatch> HookIntake::Summary(int64_t wall_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stats_.processes() == 0) return std::nullopt;
  TelemetryBatch batch = stats_.Summarize(wall_ms, ring::MonotonicNs(), true);
  stats_.MarkShipped();
  stats_.PruneGone();
  for (auto& rank : batch.ranks) rank.state = ProcessState(options_.procfs_root, rank.pid);
  return batch;
}

json HookIntake::StatusJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  const TelemetryBatch now = stats_.Summarize(WallMs(), ring::MonotonicNs());
  return {{"socket", options_.socket},        {"rings_open", intake_->open_rings()}, {"records", records_},
          {"drops", drops_},                  {"rings_lost", rings_lost_},           {"rings_refused", rings_refused_},
          {"local_hangs", local_hangs_},      {"ranks", ToJson(now)["ranks"]},       {"recent", stats_.RecentJson(16)}};
}

MetricFamilies HookIntake::Metrics() const {
  using prometheus::MetricType;
  std::lock_guard<std::mutex> lock(mu_);
  MetricFamilies out = registry_->Collect();
  out.push_back(OneSample("bulwark_agent_rings_open", "Rings of hooked processes open now", MetricType::Gauge,
                          static_cast<double>(intake_->open_rings())));
  out.push_back(OneSample("bulwark_agent_ring_records_total", "Collective records read from the rings",
                          MetricType::Counter, static_cast<double>(records_)));
  out.push_back(OneSample("bulwark_agent_ring_drops_total",
                          "Records the hooks dropped because their ring was full (the agent fell behind)",
                          MetricType::Counter, static_cast<double>(drops_)));
  out.push_back(OneSample("bulwark_agent_rings_lost_total", "Rings whose writer vanished without finishing (a crashed rank)",
                          MetricType::Counter, static_cast<double>(rings_lost_)));
  out.push_back(OneSample("bulwark_agent_rings_refused_total", "Ring registrations refused (bad version or size)",
                          MetricType::Counter, static_cast<double>(rings_refused_)));
  out.push_back(OneSample("bulwark_agent_local_hangs_total", "Ranks seen inside one call past the local hang threshold",
                          MetricType::Counter, static_cast<double>(local_hangs_)));
  // Per rank and communicator: bounded by the node's ranks times their communicators.
  const TelemetryBatch now = stats_.Summarize(WallMs(), ring::MonotonicNs());
  auto calls = EmptyFamily("bulwark_agent_rank_collective_calls_total", "Collectives each local rank completed, by communicator",
                           MetricType::Counter);
  auto inside = EmptyFamily("bulwark_agent_rank_in_call_seconds",
                            "How long each local rank has been inside its current call (0: between calls)", MetricType::Gauge);
  for (const auto& r : now.ranks) {
    for (const auto& c : r.comms) {
      const MetricLabels labels = {{"rank", std::to_string(r.rank)}, {"comm", c.comm}};
      AddSample(calls, static_cast<double>(c.calls), labels);
      AddSample(inside, c.in_call_us / 1e6, labels);
    }
  }
  out.push_back(std::move(calls));
  out.push_back(std::move(inside));
  return out;
}

}  // namespace bulwark::agent
