#include "snapshot/protection_plan.h"

#include <algorithm>
#include <map>

namespace bulwark::snapshot {
namespace {

std::string Code(int k, int m) { return "RS(" + std::to_string(k) + "," + std::to_string(m) + ")"; }

// Round-robin over domains, so that consecutive nodes sit in different racks.
std::vector<PlanNode> InterleaveDomains(std::vector<PlanNode> nodes) {
  std::map<std::string, std::vector<PlanNode>> by_domain;
  for (auto& n : nodes) by_domain[n.domain].push_back(std::move(n));
  for (auto& [d, list] : by_domain) {
    std::sort(list.begin(), list.end(), [](const PlanNode& a, const PlanNode& b) { return a.name < b.name; });
  }
  std::vector<PlanNode> out;
  for (size_t round = 0; out.size() < nodes.size(); ++round) {
    for (auto& [d, list] : by_domain) {
      if (round < list.size()) out.push_back(list[round]);
    }
  }
  return out;
}

std::string List(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

bool ProtectionPlan::Find(const std::string& node, uint32_t* group, int* block) const {
  for (const auto& g : groups) {
    for (size_t i = 0; i < g.data.size(); ++i) {
      if (g.data[i] == node) {
        *group = g.id;
        *block = static_cast<int>(i);
        return true;
      }
    }
  }
  return false;
}

Result<ProtectionPlan> PlanProtection(std::vector<PlanNode> nodes, int k, int m) {
  if (k < 1 || m < 1 || k + m > 255) return Status::Error(Code(k, m) + " is not a usable code");
  std::set<std::string> names;
  for (const auto& n : nodes) {
    if (!names.insert(n.name).second) return Status::Error("node '" + n.name + "' is listed twice");
  }
  const int n = static_cast<int>(nodes.size());
  if (n < m + 1) {
    return Status::Error(Code(k, m) + " needs at least " + std::to_string(m + 1) + " nodes (parity lives outside its group); got " +
                         std::to_string(n));
  }
  // Parity holders must be outside the group: with few nodes, groups shrink below k.
  const int group_size = std::min(k, n - m);
  std::vector<PlanNode> order = InterleaveDomains(std::move(nodes));
  ProtectionPlan plan;
  plan.k = k;
  plan.m = m;
  std::map<std::string, int> parity_load;
  std::map<std::string, std::string> domain_of;
  for (const auto& node : order) domain_of[node.name] = node.domain;
  for (int start = 0; start < n; start += group_size) {
    ProtectionGroup g;
    g.id = static_cast<uint32_t>(plan.groups.size());
    std::set<std::string> members;
    std::map<std::string, int> blocks_in_domain;  // this group's blocks per failure domain
    for (int i = start; i < std::min(n, start + group_size); ++i) {
      g.data.push_back(order[static_cast<size_t>(i)].name);
      members.insert(order[static_cast<size_t>(i)].name);
      ++blocks_in_domain[order[static_cast<size_t>(i)].domain];
    }
    for (int j = 0; j < m; ++j) {
      // A domain holding the fewest of this group's blocks first (losing any one domain
      // should cost the group as few blocks as possible); then the least loaded node; then
      // by name, so the plan is the same on every run.
      const PlanNode* best = nullptr;
      auto key = [&](const PlanNode& c) {
        const auto it = blocks_in_domain.find(c.domain);
        return std::make_tuple(it == blocks_in_domain.end() ? 0 : it->second, parity_load[c.name], c.name);
      };
      for (const auto& c : order) {
        if (members.count(c.name) || std::find(g.parity.begin(), g.parity.end(), c.name) != g.parity.end()) continue;
        if (!best || key(c) < key(*best)) best = &c;
      }
      g.parity.push_back(best->name);
      parity_load[best->name] += 1;
      ++blocks_in_domain[best->domain];
    }
    plan.groups.push_back(std::move(g));
  }
  return plan;
}

Result<std::vector<Rebuild>> PlanRebuild(const ProtectionPlan& plan, const std::set<std::string>& lost) {
  std::vector<Rebuild> out;
  std::vector<std::string> failures;
  for (const auto& g : plan.groups) {
    std::vector<std::string> lost_data, lost_parity;
    std::vector<Fetch> available;
    for (size_t i = 0; i < g.data.size(); ++i) {
      if (lost.count(g.data[i])) {
        lost_data.push_back(g.data[i]);
      } else {
        available.push_back({static_cast<int>(i), g.data[i]});
      }
    }
    // Blocks past a short group's members are zeros everyone knows: free fragments.
    for (int i = static_cast<int>(g.data.size()); i < plan.k; ++i) available.push_back({i, ""});
    for (size_t j = 0; j < g.parity.size(); ++j) {
      if (lost.count(g.parity[j])) {
        lost_parity.push_back(g.parity[j]);
      } else {
        available.push_back({plan.k + static_cast<int>(j), g.parity[j]});
      }
    }
    if (lost_data.empty()) continue;
    if (static_cast<int>(available.size()) < plan.k) {
      failures.push_back("group " + std::to_string(g.id) + " lost " +
                         std::to_string(lost_data.size() + lost_parity.size()) + " of its blocks (data of " +
                         List(lost_data) + (lost_parity.empty() ? "" : "; parity on " + List(lost_parity)) + "), " +
                         Code(plan.k, plan.m) + " rebuilds at most " + std::to_string(plan.m) + ": the shards of " +
                         List(lost_data) + " cannot be rebuilt");
      continue;
    }
    available.resize(static_cast<size_t>(plan.k));  // data blocks first: they need no decoding work
    for (size_t i = 0; i < g.data.size(); ++i) {
      if (!lost.count(g.data[i])) continue;
      out.push_back({g.data[i], g.id, static_cast<int>(i), available});
    }
  }
  if (!failures.empty()) {
    std::string message;
    for (const auto& f : failures) message += (message.empty() ? "" : "; ") + f;
    return Status::Error(message);
  }
  return out;
}

}  // namespace bulwark::snapshot
