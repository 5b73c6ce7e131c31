// The controller's snapshot catalog. Agents report, per job, the ranks whose snapshots they
// hold, their data-plane address and failure domain, and the steps they have fully protected
// (every parity block sealed). From that the catalog keeps, per job:
// - the members: one per set of ranks (a node's shard). A node that reports exactly the
//   ranks another node held takes that member's place (a spare standing in for a lost node);
// - the protection plan, drawn once every rank of the job is known (PlanProtection across
//   failure domains, the job's RS(k,m)), over member names so it survives replacements;
// - the step to protect next: the newest one every member holds. A group's parity is the
//   code of its members' shards *of the same step*, so members must not pick steps on their
//   own (one that started late would code step 3 while its partner codes step 1, forever);
// - the global recovery point: the newest step that every member has protected;
// - abandoned steps: held by some member above the recovery point while another member
//   holds a newer step but not that one (a rank skipped it: it can never be protected).
//   Their holders may overwrite them, so the members meet on a common step again.
// An epoch counts changes of any of these, and of a member's holder (its node and address:
// a replacement took its ranks over); agents long-poll on it.
// Pure: reports in, views out. Held in memory and saved per job on every epoch (Saved):
// a restarted controller restores it and the agents' periodic reports bring it up to date.
// Reports alone would not do: a fenced culprit forgets its ranks' slots, and its member,
// protected in its peers' parity, would be missing from a catalog rebuilt from scratch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/protection_plan.h"

namespace bulwark::controller {

struct SnapshotReport {
  std::string node, domain, address;
  std::string job;
  int world = 0;
  std::vector<int> ranks;
  std::vector<uint64_t> protected_steps;
  std::vector<uint64_t> held_steps;  // committed versions every one of its ranks holds
};

class SnapshotCatalog {
 public:
  SnapshotCatalog(int default_k, int default_m) : default_k_(default_k), default_m_(default_m) {}

  // Fails, naming the field, on a report that cannot be right (ranks outside the world...).
  // Returns whether the job's epoch moved (recovery point, step to protect, abandoned
  // steps, or a member's holder).
  Result<bool> Report(const SnapshotReport& report);
  // The code a job uses (a submitted job's own k, m; else the defaults).
  void SetCode(const std::string& job, int k, int m);

  std::optional<uint64_t> RecoveryPoint(const std::string& job) const;
  // The newest step every member holds (protected or not): what a paused job can still protect.
  std::optional<uint64_t> NewestHeld(const std::string& job) const;
  uint64_t Epoch(const std::string& job) const;
  bool Knows(const std::string& job) const { return jobs_.count(job) > 0; }
  // {job, world, k, m, recovery_point, plan_error, members[], groups[]}; 404-worthy error
  // when the job is unknown.
  Result<nlohmann::json> View(const std::string& job) const;
  nlohmann::json Summary() const;  // every job: members, ranks known, recovery point
  // A job's members (with their steps), world, code and epoch; the rest is derived again.
  nlohmann::json Saved(const std::string& job) const;
  // Takes a job's saved state back (a restarted controller), its epoch one past the saved
  // one so every agent's long-poll wakes. Fails naming the field on a malformed record.
  Status Restore(const std::string& job, const nlohmann::json& saved);

 private:
  struct Member {
    std::string name;  // the node that first held these ranks: the plan's name for the shard
    std::string node, address, domain;  // who holds it now
    std::vector<int> ranks;
    std::vector<uint64_t> protected_steps;
    std::vector<uint64_t> held_steps;
  };
  struct Job {
    int world = 0;
    int k = 0, m = 0;
    std::vector<Member> members;
    std::optional<snapshot::ProtectionPlan> plan;
    std::string plan_error;
    std::optional<uint64_t> recovery_point;
    std::optional<uint64_t> protect_step;
    std::vector<uint64_t> abandoned;  // held by some member, skipped for good by another
    uint64_t epoch = 0;
  };
  void Replan(Job& job);
  static nlohmann::json MemberJson(const Member& m);  // as views show it and saves keep it
  // The newest step in every member's list (`protected_steps` or `held_steps`).
  static std::optional<uint64_t> NewestCommon(const Job& job, std::vector<uint64_t> Member::*steps);

  int default_k_, default_m_;
  std::map<std::string, std::pair<int, int>> codes_;
  std::map<std::string, Job> jobs_;
};

}  // namespace bulwark::controller
