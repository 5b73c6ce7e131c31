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
    : options_(std::move(options)), intake_(std::move(intake)), on_event_(std::move(on_event)), log_(std::move(log)) {}

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

std::string HookIntake::MetricsText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto line = [&out](const std::string& name, const std::string& type, double value) {
    out += "# TYPE " + name + " " + type + "\n" + name + " " + std::to_string(value) + "\n";
  };
  line("bulwark_agent_rings_open", "gauge", static_cast<double>(intake_->open_rings()));
  line("bulwark_agent_ring_records_total", "counter", static_cast<double>(records_));
  line("bulwark_agent_ring_drops_total", "counter", static_cast<double>(drops_));
  line("bulwark_agent_rings_lost_total", "counter", static_cast<double>(rings_lost_));
  line("bulwark_agent_rings_refused_total", "counter", static_cast<double>(rings_refused_));
  line("bulwark_agent_local_hangs_total", "counter", static_cast<double>(local_hangs_));
  // Per rank and communicator: bounded by the node's ranks times their communicators.
  const TelemetryBatch now = stats_.Summarize(WallMs(), ring::MonotonicNs());
  std::string calls = "# TYPE bulwark_agent_collective_calls_total counter\n";
  std::string duration = "# TYPE bulwark_agent_collective_duration_seconds gauge\n";
  std::string inside = "# TYPE bulwark_agent_collective_in_call_seconds gauge\n";
  for (const auto& r : now.ranks) {
    for (const auto& c : r.comms) {
      const std::string labels = "rank=\"" + std::to_string(r.rank) + "\",comm=\"" + c.comm + "\"";
      calls += "bulwark_agent_collective_calls_total{" + labels + ",op=\"" + c.op + "\"} " + std::to_string(c.calls) + "\n";
      duration += "bulwark_agent_collective_duration_seconds{" + labels + ",quantile=\"0.5\"} " +
                  std::to_string(c.p50_us / 1e6) + "\n";
      duration += "bulwark_agent_collective_duration_seconds{" + labels + ",quantile=\"0.99\"} " +
                  std::to_string(c.p99_us / 1e6) + "\n";
      inside += "bulwark_agent_collective_in_call_seconds{" + labels + "} " + std::to_string(c.in_call_us / 1e6) + "\n";
    }
  }
  return out + calls + duration + inside;
}

}  // namespace bulwark::agent
