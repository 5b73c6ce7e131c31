#include "controller/snapshot_catalog.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace bulwark::controller {

using nlohmann::json;

void SnapshotCatalog::SetCode(const std::string& job, int k, int m) { codes_[job] = {k, m}; }

Result<bool> SnapshotCatalog::Report(const SnapshotReport& r) {
  if (r.job.empty()) return Status::Error("snapshot report: 'job' is empty");
  if (r.world < 1) return Status::Error("snapshot report for job " + r.job + ": 'world' must be >= 1");
  if (r.ranks.empty()) return Status::Error("snapshot report for job " + r.job + ": 'ranks' is empty");
  std::vector<int> ranks = r.ranks;
  std::sort(ranks.begin(), ranks.end());
  if (std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
    return Status::Error("snapshot report for job " + r.job + ": 'ranks' lists a rank twice");
  }
  if (ranks.front() < 0 || ranks.back() >= r.world) {
    return Status::Error("snapshot report for job " + r.job + ": rank " +
                         std::to_string(ranks.front() < 0 ? ranks.front() : ranks.back()) + " is outside a world of " +
                         std::to_string(r.world));
  }
  Job& job = jobs_[r.job];
  if (job.world != r.world) job = Job{};  // a new job under an old name, or the first report
  job.world = r.world;
  const auto code = codes_.count(r.job) ? codes_[r.job] : std::make_pair(default_k_, default_m_);
  job.k = code.first;
  job.m = code.second;
  const auto before = std::make_pair(job.recovery_point, job.protect_step);
  std::vector<uint64_t> held = r.held_steps;
  std::sort(held.begin(), held.end());
  // A step once protected stays rebuildable from peers whoever holds the member now (a
  // stand-in reports nothing until it has rebuilt): merge, keeping the two newest, as a
  // rank holds two versions.
  auto merge = [](std::vector<uint64_t> steps, const std::vector<uint64_t>& more) {
    steps.insert(steps.end(), more.begin(), more.end());
    std::sort(steps.rbegin(), steps.rend());
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    if (steps.size() > 2) steps.resize(2);
    return steps;
  };

  auto same = std::find_if(job.members.begin(), job.members.end(), [&](const Member& m) { return m.ranks == ranks; });
  // A member now held by another node (a replacement) is reached at a new address: every
  // agent's view must learn it, or contributions keep going to the node it replaced and
  // wait there for a seal that never comes.
  bool moved_member = false;
  if (same != job.members.end()) {
    moved_member = same->node != r.node || same->address != r.address;
    same->node = r.node;
    same->address = r.address;
    same->domain = r.domain;
    same->protected_steps = merge(same->protected_steps, r.protected_steps);
    same->held_steps = held;
  } else {
    // New ranks, or a regrouping: members that overlap them are gone, and so is the plan.
    const size_t n = job.members.size();
    std::erase_if(job.members, [&](const Member& m) {
      for (int x : m.ranks) {
        if (std::binary_search(ranks.begin(), ranks.end(), x)) return true;
      }
      return m.name == r.node;
    });
    if (job.members.size() != n) job.plan.reset();
    job.members.push_back({r.node, r.node, r.address, r.domain, ranks, merge({}, r.protected_steps), held});
    job.plan.reset();
    moved_member = true;
  }
  // A member protects only steps it holds, and holds only the newest two: a protected step
  // above everything it holds now was abandoned (the job went back to an older step or to
  // scratch), and must not count towards the recovery point.
  for (auto& m : job.members) {
    if (m.held_steps.empty()) continue;
    const uint64_t newest = m.held_steps.back();
    std::erase_if(m.protected_steps, [&](uint64_t s) { return s > newest; });
  }
  if (!job.plan) Replan(job);
  job.recovery_point = NewestCommon(job, &Member::protected_steps);
  job.protect_step = NewestCommon(job, &Member::held_steps);
  std::vector<uint64_t> abandoned;
  if (job.plan) {
    for (const auto& holder : job.members) {
      for (uint64_t step : holder.held_steps) {
        if (job.recovery_point && step <= *job.recovery_point) continue;
        for (const auto& other : job.members) {
          const auto& h = other.held_steps;
          if (!h.empty() && h.back() > step && std::find(h.begin(), h.end(), step) == h.end()) {
            abandoned.push_back(step);
            break;
          }
        }
      }
    }
    std::sort(abandoned.begin(), abandoned.end());
    abandoned.erase(std::unique(abandoned.begin(), abandoned.end()), abandoned.end());
  }
  const bool moved =
      std::make_pair(job.recovery_point, job.protect_step) != before || abandoned != job.abandoned || moved_member;
  job.abandoned = abandoned;
  if (moved) ++job.epoch;
  return moved;
}

void SnapshotCatalog::Replan(Job& job) {
  size_t known = 0;
  for (const auto& m : job.members) known += m.ranks.size();
  job.plan_error.clear();
  if (static_cast<int>(known) < job.world) {
    job.plan_error = "waiting for " + std::to_string(job.world - static_cast<int>(known)) + " of " +
                     std::to_string(job.world) + " ranks to be reported";
    return;
  }
  std::vector<snapshot::PlanNode> nodes;
  for (const auto& m : job.members) nodes.push_back({m.name, m.domain});
  auto plan = snapshot::PlanProtection(nodes, job.k, job.m);
  if (!plan.ok()) {
    job.plan_error = plan.status().message();
    return;
  }
  job.plan = plan.value();
}

std::optional<uint64_t> SnapshotCatalog::NewestCommon(const Job& job, std::vector<uint64_t> Member::*steps) {
  if (!job.plan || job.members.empty()) return std::nullopt;
  std::optional<uint64_t> best;
  for (uint64_t step : job.members.front().*steps) {
    bool everywhere = true;
    for (const auto& m : job.members) {
      everywhere = everywhere && std::find((m.*steps).begin(), (m.*steps).end(), step) != (m.*steps).end();
    }
    if (everywhere && (!best || step > *best)) best = step;
  }
  return best;
}

uint64_t SnapshotCatalog::Epoch(const std::string& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? 0 : it->second.epoch;
}

std::optional<uint64_t> SnapshotCatalog::RecoveryPoint(const std::string& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? std::nullopt : it->second.recovery_point;
}

std::optional<uint64_t> SnapshotCatalog::NewestHeld(const std::string& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? std::nullopt : it->second.protect_step;
}

Result<json> SnapshotCatalog::View(const std::string& name) const {
  auto it = jobs_.find(name);
  if (it == jobs_.end()) return Status::Error("no agent has reported snapshots of job '" + name + "'");
  const Job& job = it->second;
  json members = json::array();
  for (const auto& m : job.members) members.push_back(MemberJson(m));
  json groups = json::array();
  if (job.plan) {
    for (const auto& g : job.plan->groups) groups.push_back({{"id", g.id}, {"data", g.data}, {"parity", g.parity}});
  }
  return json{{"job", name},
              {"world", job.world},
              {"k", job.k},
              {"m", job.m},
              {"recovery_point", job.recovery_point ? json(*job.recovery_point) : json()},
              {"protect_step", job.protect_step ? json(*job.protect_step) : json()},
              {"abandoned_steps", job.abandoned},
              {"epoch", job.epoch},
              {"plan_error", job.plan_error},
              {"members", members},
              {"groups", groups}};
}

json SnapshotCatalog::MemberJson(const Member& m) {
  return {{"member", m.name}, {"node", m.node}, {"address", m.address}, {"domain", m.domain},
          {"ranks", m.ranks}, {"protected_steps", m.protected_steps}, {"held_steps", m.held_steps}};
}

json SnapshotCatalog::Saved(const std::string& name) const {
  auto it = jobs_.find(name);
  if (it == jobs_.end()) return json();
  const Job& job = it->second;
  json members = json::array();
  for (const auto& m : job.members) members.push_back(MemberJson(m));
  return {{"world", job.world}, {"k", job.k}, {"m", job.m}, {"epoch", job.epoch}, {"members", members}};
}

Status SnapshotCatalog::Restore(const std::string& name, const json& saved) {
  Job job;
  try {
    job.world = saved.at("world").get<int>();
    job.k = saved.at("k").get<int>();
    job.m = saved.at("m").get<int>();
    job.epoch = saved.at("epoch").get<uint64_t>() + 1;
    for (const auto& m : saved.at("members")) {
      job.members.push_back({m.at("member").get<std::string>(), m.at("node").get<std::string>(),
                             m.at("address").get<std::string>(), m.at("domain").get<std::string>(),
                             m.at("ranks").get<std::vector<int>>(), m.at("protected_steps").get<std::vector<uint64_t>>(),
                             m.at("held_steps").get<std::vector<uint64_t>>()});
    }
  } catch (const json::exception& e) {
    return Status::Error("saved snapshot catalog of job " + name + ": " + e.what());
  }
  if (codes_.count(name)) std::tie(job.k, job.m) = codes_[name];
  Replan(job);
  job.recovery_point = NewestCommon(job, &Member::protected_steps);
  job.protect_step = NewestCommon(job, &Member::held_steps);
  jobs_[name] = std::move(job);
  return Status::Ok();
}

json SnapshotCatalog::Summary() const {
  json out = json::array();
  for (const auto& [name, job] : jobs_) {
    size_t ranks = 0;
    for (const auto& m : job.members) ranks += m.ranks.size();
    out.push_back({{"job", name},
                   {"world", job.world},
                   {"ranks_known", ranks},
                   {"members", job.members.size()},
                   {"code", "RS(" + std::to_string(job.k) + "," + std::to_string(job.m) + ")"},
                   {"recovery_point", job.recovery_point ? json(*job.recovery_point) : json()},
                   {"plan_error", job.plan_error}});
  }
  return out;
}

}  // namespace bulwark::controller
