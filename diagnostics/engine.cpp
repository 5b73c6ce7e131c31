#include "diagnostics/engine.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "diagnostics/hang.h"

namespace bulwark::diagnostics {
namespace {

// A stopped (SIGSTOP, a debugger) or uninterruptible (a driver, a dead filesystem) process
// cannot take part in a collective, whatever its sequence numbers say.
bool Stuck(const std::string& state) { return state == "T" || state == "t" || state == "D"; }

std::string Join(const std::vector<int64_t>& v) {
  std::string out;
  for (int64_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

}  // namespace

const char* VerdictKindName(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kCrash: return "crash";
    case VerdictKind::kNodeLost: return "node_lost";
    case VerdictKind::kHang: return "hang";
    case VerdictKind::kCommunicationHang: return "communication_hang";
    case VerdictKind::kStraggler: return "straggler";
    case VerdictKind::kImbalance: return "imbalance";
    case VerdictKind::kSlowCommunication: return "slow_communication";
    case VerdictKind::kTrainingAnomaly: return "training_anomaly";
  }
  return "unknown";
}

nlohmann::json ToJson(const Verdict& v) {
  return {{"kind", VerdictKindName(v.kind)}, {"time_ms", v.time_ms},       {"comm", v.comm},
          {"ranks", v.ranks},                {"nodes", v.nodes},           {"confidence", v.confidence},
          {"evidence", v.evidence},          {"blames_node", v.blames_node()}, {"detail", v.detail}};
}

void Engine::Reset(Comm& comm) {
  comm.pending.clear();
  comm.recent_lateness.clear();
  comm.lateness = LatenessDetector(options_.lateness);
  comm.transfer = TransferTracker(options_.transfer);
  comm.slow_reported = false;
  comm.fresh_timings = false;
  comm.hang_reported = false;
  comm.hang_verdict_ms.reset();
  comm.imbalance_reported = false;
}

void Engine::Telemetry(const std::string& node, const TelemetryBatch& batch, int64_t now_ms) {
  for (const auto& rank : batch.ranks) {
    for (const auto& c : rank.comms) {
      auto [it, created] = comms_.try_emplace(c.comm);
      Comm& comm = it->second;
      if (created) Reset(comm);
      RankView& view = comm.ranks[rank.rank];
      if (view.pid != 0 && rank.pid != 0 && view.pid != rank.pid) {
        Reset(comm);  // the rank restarted: what its communicator did before says nothing now
      } else if (view.gone) {
        continue;  // the final statistics of a rank already gone: it stays gone
      }
      view.node = node;
      view.pid = rank.pid;
      view.state = rank.state;
      view.begun = static_cast<uint64_t>(c.last_seq);
      view.done = static_cast<uint64_t>(c.last_seq_done);
      view.in_call_us = c.in_call_us;
      view.seen_ms = now_ms;
      view.gone = false;
      AddTimings(comm, rank.rank, c.timings);
    }
  }
}

void Engine::AddTimings(Comm& comm, int64_t rank, const std::vector<CommStats::Timing>& timings) {
  size_t members = 0;
  for (const auto& [r, v] : comm.ranks) members += !v.gone;
  for (const auto& t : timings) {
    if (comm.pending.empty() || SeqAfter(t.seq, comm.newest_seq)) comm.newest_seq = t.seq;
    auto& arrived = comm.pending[t.seq];
    arrived[rank] = t;
    if (members < 2 || arrived.size() < members) continue;
    // Every member reported this call: one collective for the lateness window. The first
    // call on a communicator has no compute time before it and says nothing.
    CollectiveTiming timing;
    timing.seq = t.seq;
    std::map<int64_t, double> arrived_in_call;
    bool complete = true;
    for (const auto& [r, v] : comm.ranks) {
      if (v.gone) continue;
      auto a = arrived.find(r);
      if (a == arrived.end() || a->second.compute_us <= 0) complete = false;
      if (!complete) break;
      timing.in_call_us.push_back(a->second.in_call_us);
      timing.compute_us.push_back(a->second.compute_us);
      arrived_in_call[r] = a->second.in_call_us;
    }
    comm.pending.erase(t.seq);
    if (!complete) continue;
    const double longest = *std::max_element(timing.in_call_us.begin(), timing.in_call_us.end());
    Comm::Lateness late{timing.seq, {}};
    for (const auto& [r, v] : comm.ranks) {
      if (!v.gone) late.us[r] = longest - arrived_in_call[r];
    }
    comm.recent_lateness.push_back(std::move(late));
    if (comm.recent_lateness.size() > kRecentLateness) comm.recent_lateness.pop_front();
    comm.transfer.Add(timing);
    comm.lateness.Add(std::move(timing));
    comm.fresh_timings = true;
  }
  // Calls some member never reported (it joined late, or its batch was dropped) age out.
  while (comm.pending.size() > options_.pending_seqs) {
    auto oldest = comm.pending.begin();
    for (auto it = comm.pending.begin(); it != comm.pending.end(); ++it) {
      if (comm.newest_seq - it->first > comm.newest_seq - oldest->first) oldest = it;
    }
    comm.pending.erase(oldest);
  }
}

void Engine::RankGone(const std::string& node, int64_t rank, int64_t pid, const std::string& why, int64_t event_ms,
                      int64_t now_ms) {
  bool hung = false;
  for (auto& [id, comm] : comms_) {
    auto it = comm.ranks.find(rank);
    if (it == comm.ranks.end() || it->second.node != node || (pid != 0 && it->second.pid != pid)) continue;
    it->second.gone = true;
    hung = hung || comm.hang_reported ||
           (comm.hang_verdict_ms && now_ms - *comm.hang_verdict_ms < options_.crash_quiet_ms);
  }
  if (now_ms < quiet_until_ms_ || hung) return;  // the echo of a verdict already given: the job tearing down
  for (const auto& g : gone_pending_) {
    if (g.node == node && g.rank == rank && g.pid == pid) return;  // its exit and its ring, both told
  }
  gone_pending_.push_back({node, rank, pid, event_ms, now_ms, why});
}

void Engine::Relaunched(int64_t now_ms) {
  quiet_until_ms_ = std::min(quiet_until_ms_, now_ms);
  gone_pending_.clear();  // the old attempt's teardown
}

void Engine::NodeLost(const std::string& node, const std::string& why, int64_t now_ms) {
  std::vector<int64_t> ranks;
  for (auto& [id, comm] : comms_) {
    for (auto& [r, v] : comm.ranks) {
      if (v.node != node || v.gone) continue;
      v.gone = true;
      if (std::find(ranks.begin(), ranks.end(), r) == ranks.end()) ranks.push_back(r);
    }
  }
  std::sort(ranks.begin(), ranks.end());
  Verdict v;
  v.kind = VerdictKind::kNodeLost;
  v.time_ms = now_ms;
  v.ranks = ranks;
  v.nodes = {node};
  v.confidence = 0.9;  // a partition looks the same from here; the self-check on return tells
  v.evidence = "node " + node + " went silent: " + why + (ranks.empty() ? "" : "; it ran ranks " + Join(ranks));
  v.detail = {{"why", why}};
  ready_.push_back(std::move(v));
  gone_pending_.clear();  // its ranks' peers failing next are consequences
  quiet_until_ms_ = now_ms + options_.crash_quiet_ms;
}

void Engine::AssessCrashes(int64_t now_ms, std::vector<Verdict>* out) {
  if (gone_pending_.empty() || now_ms - gone_pending_.front().now_ms < options_.crash_settle_ms) return;
  // The first to go is the culprit; the rest followed it. Order by the agents' own event
  // times (good enough across nodes at the settle window's scale), then by arrival.
  const Gone* first = &gone_pending_.front();
  for (const auto& g : gone_pending_) {
    if (g.event_ms < first->event_ms) first = &g;
  }
  Verdict v;
  v.kind = VerdictKind::kCrash;
  v.time_ms = now_ms;
  v.ranks = {first->rank};
  v.nodes = {first->node};
  v.confidence = gone_pending_.size() == 1 ? 1.0 : 0.9;
  v.evidence = "rank " + std::to_string(first->rank) + " (pid " + std::to_string(first->pid) + " on " + first->node +
               ") " + first->why;
  nlohmann::json followers = nlohmann::json::array();
  for (const auto& g : gone_pending_) {
    if (&g == first) continue;
    followers.push_back({{"rank", g.rank}, {"node", g.node}, {"pid", g.pid}, {"why", g.why},
                         {"after_ms", g.event_ms - first->event_ms}});
  }
  if (!followers.empty()) v.evidence += "; " + std::to_string(followers.size()) + " more ranks went after it";
  v.detail = {{"why", first->why}, {"pid", first->pid}, {"event_ms", first->event_ms}, {"followers", followers}};
  out->push_back(std::move(v));
  gone_pending_.clear();
  quiet_until_ms_ = now_ms + options_.crash_quiet_ms;
}

void Engine::AssessHang(const std::string& id, Comm& comm, int64_t now_ms, std::vector<Verdict>* out) {
  std::vector<RankCallState> states;
  for (const auto& [r, v] : comm.ranks) {
    if (v.gone) return;  // a crash or a lost node explains this communicator already
    // Still inside since the batch said so: the wait grew by the time since it arrived.
    const int64_t inside = v.in_call_us > 0 ? static_cast<int64_t>(v.in_call_us / 1000) + (now_ms - v.seen_ms) : 0;
    states.push_back({static_cast<int>(r), v.node, v.begun, v.done, inside});
  }
  // The threshold follows the collective waited in: the newest any rank began.
  uint64_t newest = states.empty() ? 0 : states.front().begun;
  for (const auto& s : states) newest = SeqAfter(s.begun, newest) ? s.begun : newest;
  const int64_t threshold = newest <= options_.warmup_collectives ? std::max(options_.hang_ms, options_.warmup_hang_ms)
                                                                   : options_.hang_ms;
  const HangVerdict h = diagnostics::AssessHang(states, threshold);
  if (h.kind == HangKind::kNone) {
    if (comm.hang_reported && h.seq != comm.hang_seq) comm.hang_reported = false;  // it moved on
    return;
  }
  if (comm.hang_reported && comm.hang_seq == h.seq) return;
  comm.hang_reported = true;
  comm.hang_seq = h.seq;
  comm.hang_verdict_ms = now_ms;

  Verdict v;
  v.time_ms = now_ms;
  v.comm = id;
  std::vector<int64_t> stuck;
  for (const auto& [r, view] : comm.ranks) {
    if (Stuck(view.state)) stuck.push_back(r);
  }
  nlohmann::json states_json = nlohmann::json::object();
  for (const auto& [r, view] : comm.ranks) states_json[std::to_string(r)] = view.state.empty() ? "?" : view.state;
  v.detail = {{"seq", h.seq}, {"waited_ms", h.waited_ms}, {"threshold_ms", threshold}, {"states", states_json}};
  if (h.kind == HangKind::kMissingRank) {
    v.kind = VerdictKind::kHang;
    v.ranks.assign(h.culprits.begin(), h.culprits.end());
    v.confidence = 0.9;
    v.evidence = h.evidence;
    for (int64_t r : v.ranks) {
      const auto& view = comm.ranks[r];
      if (!view.state.empty()) v.evidence += "; rank " + std::to_string(r) + " is in process state " + view.state;
    }
    // Of the ranks missing, one that cannot run (stopped, uninterruptible) is what the
    // others wait on: a running rank that never entered is still inside an earlier
    // collective with the stopped one (an allgather ring behind a SIGSTOPped rank).
    std::vector<int64_t> cannot_run;
    for (int64_t r : v.ranks) {
      if (Stuck(comm.ranks[r].state)) cannot_run.push_back(r);
    }
    if (!cannot_run.empty() && cannot_run.size() < v.ranks.size()) {
      v.evidence += "; the others wait on rank" + std::string(cannot_run.size() > 1 ? "s " : " ") + Join(cannot_run) + ", which cannot run";
      v.ranks = cannot_run;
      v.confidence = 0.95;
    }
  } else if (!stuck.empty()) {
    v.kind = VerdictKind::kHang;  // inside the call, but it cannot run: it is what the others wait for
    v.ranks = stuck;
    v.confidence = 0.95;
    v.evidence = h.evidence + "; ranks " + Join(stuck) + " are stopped or uninterruptible (process state " +
                 comm.ranks[stuck.front()].state + ")";
  } else {
    v.kind = VerdictKind::kCommunicationHang;  // the fault lies between nodes: no node is blamed
    v.ranks.assign(h.waiting.begin(), h.waiting.end());
    v.confidence = 0.6;
    v.evidence = h.evidence;
  }
  if (v.kind == VerdictKind::kHang) {
    for (int64_t r : v.ranks) {
      const auto& view = comm.ranks[r];
      if (std::find(v.nodes.begin(), v.nodes.end(), view.node) == v.nodes.end()) v.nodes.push_back(view.node);
    }
  }
  out->push_back(std::move(v));
}

void Engine::AssessLateness(const std::string& id, Comm& comm, int64_t now_ms, std::vector<Verdict>* out) {
  if (!comm.fresh_timings) return;
  comm.fresh_timings = false;
  std::vector<int64_t> world;  // index in the window's timings -> world rank
  for (const auto& [r, v] : comm.ranks) {
    if (!v.gone) world.push_back(r);
  }
  const LatenessAssessment a = comm.lateness.Assess();
  Verdict v;
  v.time_ms = now_ms;
  v.comm = id;
  v.detail = {{"collectives", a.collectives}, {"significant", a.significant}, {"share", a.share},
              {"lost_fraction", a.lost_fraction}, {"seqs", a.evidence_seqs}};
  if (a.kind == LatenessKind::kStraggler && a.slowdown_percent >= options_.min_slowdown_percent &&
      static_cast<size_t>(a.rank) < world.size()) {
    const int64_t rank = world[static_cast<size_t>(a.rank)];
    const RankView& view = comm.ranks[rank];
    if (!stragglers_reported_.insert({rank, view.pid}).second) return;
    v.kind = VerdictKind::kStraggler;
    v.ranks = {rank};
    v.nodes = {view.node};
    v.confidence = a.share;
    char text[64];
    std::snprintf(text, sizeof(text), " (+%.0f%% compute)", a.slowdown_percent);
    v.evidence = "world rank " + std::to_string(rank) + " on " + view.node + text + ": " + a.evidence;
    v.detail["slowdown_percent"] = a.slowdown_percent;
    out->push_back(std::move(v));
  } else if (a.kind == LatenessKind::kImbalance && a.lost_fraction >= options_.imbalance_min_lost_fraction &&
             !comm.imbalance_reported) {
    comm.imbalance_reported = true;
    v.kind = VerdictKind::kImbalance;
    v.confidence = 1.0 - a.share;
    v.evidence = a.evidence;
    out->push_back(std::move(v));
  } else if (a.kind != LatenessKind::kStraggler && !comm.slow_reported) {
    const TransferAssessment t = comm.transfer.Assess();
    if (!t.slow) return;
    comm.slow_reported = true;
    std::set<std::string> nodes;
    for (const auto& [r, view] : comm.ranks) nodes.insert(view.node);
    Verdict s;
    s.kind = VerdictKind::kSlowCommunication;
    s.time_ms = now_ms;
    s.comm = id;
    s.confidence = 0.5;  // the probe matrix says where, or that it was not the network
    char text[200];
    std::snprintf(text, sizeof(text),
                  "every collective slower with no rank late: the last arrival spends %.0f us inside (median), "
                  "against %.0f us normally (%.1fx)",
                  t.now_us, t.normal_us, t.now_us / t.normal_us);
    s.evidence = text;
    s.detail = {{"normal_us", t.normal_us}, {"now_us", t.now_us}, {"job_nodes", nodes}};
    out->push_back(std::move(s));
  }
}

std::vector<Verdict> Engine::Tick(int64_t now_ms) {
  std::vector<Verdict> out = std::move(ready_);
  ready_.clear();
  AssessCrashes(now_ms, &out);
  for (auto it = comms_.begin(); it != comms_.end();) {
    Comm& comm = it->second;
    // A communicator all of whose ranks are gone or silent for long belongs to a past job.
    bool past = true;
    for (const auto& [r, v] : comm.ranks) past = past && (v.gone || now_ms - v.seen_ms > options_.forget_after_ms);
    if (past && now_ms >= quiet_until_ms_) {
      it = comms_.erase(it);
      continue;
    }
    AssessHang(it->first, comm, now_ms, &out);
    AssessLateness(it->first, comm, now_ms, &out);
    ++it;
  }
  return out;
}

nlohmann::json Engine::LatenessJson() const {
  nlohmann::json comms = nlohmann::json::array();
  for (const auto& [id, comm] : comms_) {
    if (comm.recent_lateness.empty()) continue;
    nlohmann::json ranks = nlohmann::json::array(), scores = nlohmann::json::object();
    std::map<int64_t, size_t> last_in;
    for (const auto& [r, v] : comm.ranks) {
      if (v.gone) continue;
      ranks.push_back({{"rank", r}, {"node", v.node}});
      last_in[r] = 0;
    }
    nlohmann::json collectives = nlohmann::json::array();
    for (const auto& c : comm.recent_lateness) {
      nlohmann::json late = nlohmann::json::object();
      // The last to arrive spent the least time inside: its lateness is what the first waited.
      int64_t last = -1;
      double waited = -1;
      for (const auto& [r, us] : c.us) {
        late[std::to_string(r)] = us;
        if (us > waited) last = r, waited = us;
      }
      if (waited >= options_.lateness.min_wait_us && last_in.count(last)) ++last_in[last];
      collectives.push_back({{"seq", c.seq}, {"lateness_us", late}});
    }
    for (const auto& [r, n] : last_in) scores[std::to_string(r)] = double(n) / double(comm.recent_lateness.size());
    comms.push_back({{"comm", id}, {"ranks", ranks}, {"collectives", collectives}, {"straggler_score", scores}});
  }
  return {{"communicators", comms}};
}

}  // namespace bulwark::diagnostics
