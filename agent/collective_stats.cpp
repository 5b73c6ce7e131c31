#include "agent/collective_stats.h"

#include <algorithm>
#include <cstdio>

namespace bulwark::agent {
namespace {

double PercentileUs(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

}  // namespace

std::string CommIdText(uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(id));
  return text;
}

void CollectiveStats::Add(pid_t pid, int world_rank, const ring::Event* events, size_t count) {
  Process& p = procs_[pid];
  p.world_rank = world_rank;
  for (size_t i = 0; i < count; ++i) {
    const ring::Event& e = events[i];
    CommRankStats& s = p.comms[e.comm_id];
    s.world_rank = e.world_rank;
    s.comm_rank = e.comm_rank;
    s.last_op = e.op;
    s.last_seq_entered = std::max(s.last_seq_entered, static_cast<int64_t>(e.seq));
    if (e.flags & ring::kEntered) continue;  // a non-blocking start: its completion follows
    ++s.calls;
    s.bytes += e.bytes;
    s.last_seq_completed = std::max(s.last_seq_completed, static_cast<int64_t>(e.seq));
    s.durations_ns.push_back(std::max<int64_t>(0, e.exit_ns - e.enter_ns));
    if (s.durations_ns.size() > limits_.window) s.durations_ns.pop_front();
    s.recent.push_back({e.seq, e.op, e.bytes, e.enter_ns, e.exit_ns});
    if (s.recent.size() > limits_.recent) s.recent.pop_front();
  }
}

void CollectiveStats::SetInFlight(pid_t pid, const ring::InFlight& call) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  it->second.in_flight = call;
  if (call.op != ring::Op::kUnknown) {
    CommRankStats& s = it->second.comms[call.comm_id];
    s.last_seq_entered = std::max(s.last_seq_entered, static_cast<int64_t>(call.seq));
    if (s.world_rank < 0) s.world_rank = it->second.world_rank;
  }
}

void CollectiveStats::MarkGone(pid_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  it->second.gone = true;
  it->second.in_flight = {};  // a dead process is inside no call
}

void CollectiveStats::PruneGone() {
  for (auto it = procs_.begin(); it != procs_.end();) it = it->second.gone ? procs_.erase(it) : std::next(it);
}

void CollectiveStats::Forget(pid_t pid) { procs_.erase(pid); }

std::vector<LocalHang> CollectiveStats::NewHangs(int64_t now_ns, int64_t threshold_ns) {
  std::vector<LocalHang> out;
  for (auto& [pid, p] : procs_) {
    const ring::InFlight& f = p.in_flight;
    if (f.op == ring::Op::kUnknown || now_ns - f.enter_ns < threshold_ns) continue;
    if (p.hang_reported_seq == f.seq && p.hang_reported_comm == f.comm_id) continue;
    p.hang_reported_seq = f.seq;
    p.hang_reported_comm = f.comm_id;
    out.push_back({pid, p.world_rank, f.comm_id, f.seq, f.op, (now_ns - f.enter_ns) / 1000000});
  }
  return out;
}

TelemetryBatch CollectiveStats::Summarize(int64_t wall_ms, int64_t now_ns, bool timings) const {
  TelemetryBatch batch;
  batch.time_ms = wall_ms;
  for (const auto& [pid, p] : procs_) {
    RankTelemetry rank;
    rank.rank = std::max(0, p.world_rank);
    rank.pid = pid;
    for (const auto& [id, s] : p.comms) {
      CommStats c;
      c.comm = CommIdText(id);
      c.op = ring::OpName(s.last_op);
      c.calls = static_cast<int64_t>(s.calls);
      c.bytes = static_cast<int64_t>(s.bytes);
      std::vector<int64_t> d(s.durations_ns.begin(), s.durations_ns.end());
      if (!d.empty()) {
        int64_t sum = 0, max = 0;
        for (int64_t x : d) {
          sum += x;
          max = std::max(max, x);
        }
        c.mean_us = static_cast<double>(sum) / static_cast<double>(d.size()) / 1000.0;
        c.max_us = static_cast<double>(max) / 1000.0;
        c.p50_us = PercentileUs(d, 0.50);
        c.p99_us = PercentileUs(d, 0.99);
      }
      c.last_seq = std::max<int64_t>(0, s.last_seq_entered);
      c.last_seq_done = std::max<int64_t>(0, s.last_seq_completed);
      if (p.in_flight.op != ring::Op::kUnknown && p.in_flight.comm_id == id) {
        c.in_call_us = static_cast<double>(std::max<int64_t>(0, now_ns - p.in_flight.enter_ns)) / 1000.0;
      }
      c.comm_rank = s.comm_rank;
      if (timings) {
        // Compute time before a call runs from leaving the previous one on this communicator.
        const size_t fresh = static_cast<size_t>(std::min<uint64_t>(s.calls - s.shipped, s.recent.size()));
        for (size_t i = s.recent.size() - fresh; i < s.recent.size(); ++i) {
          const CallTiming& t = s.recent[i];
          const double compute_us =
              i == 0 ? 0 : static_cast<double>(std::max<int64_t>(0, t.enter_ns - s.recent[i - 1].exit_ns)) / 1000.0;
          c.timings.push_back({t.seq, static_cast<double>(std::max<int64_t>(0, t.exit_ns - t.enter_ns)) / 1000.0, compute_us});
        }
      }
      rank.comms.push_back(std::move(c));
    }
    batch.ranks.push_back(std::move(rank));
  }
  return batch;
}

void CollectiveStats::MarkShipped() {
  for (auto& [pid, p] : procs_) {
    for (auto& [id, s] : p.comms) s.shipped = s.calls;
  }
}

nlohmann::json CollectiveStats::RecentJson(size_t per_comm) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [pid, p] : procs_) {
    for (const auto& [id, s] : p.comms) {
      nlohmann::json calls = nlohmann::json::array();
      const size_t skip = s.recent.size() > per_comm ? s.recent.size() - per_comm : 0;
      for (size_t i = skip; i < s.recent.size(); ++i) {
        const CallTiming& t = s.recent[i];
        calls.push_back({{"seq", t.seq}, {"op", ring::OpName(t.op)}, {"bytes", t.bytes}, {"enter_ns", t.enter_ns},
                         {"exit_ns", t.exit_ns}});
      }
      out.push_back({{"pid", pid}, {"rank", p.world_rank}, {"comm", CommIdText(id)}, {"comm_rank", s.comm_rank},
                     {"calls", std::move(calls)}});
    }
  }
  return out;
}

const CommRankStats* CollectiveStats::Find(pid_t pid, uint64_t comm_id) const {
  auto p = procs_.find(pid);
  if (p == procs_.end()) return nullptr;
  auto c = p->second.comms.find(comm_id);
  return c == p->second.comms.end() ? nullptr : &c->second;
}

}  // namespace bulwark::agent
