#include "controller/placement.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace bulwark::controller {

bool HasNicClass(const PlacementCandidate& node, const std::string& nic_class) {
  if (nic_class == "any") return true;
  return std::find(node.nic_types.begin(), node.nic_types.end(), nic_class) != node.nic_types.end();
}

Result<std::vector<std::string>> PlaceJob(int nodes, const std::string& nic_class,
                                          const std::vector<PlacementCandidate>& free) {
  std::map<std::string, std::vector<std::string>> by_domain;
  int qualifying = 0;
  for (const auto& c : free) {
    if (c.spare || !HasNicClass(c, nic_class)) continue;
    by_domain[c.domain].push_back(c.name);
    ++qualifying;
  }
  if (qualifying < nodes) {
    return Status::Error("needs " + std::to_string(nodes) + " free healthy worker nodes with NIC class '" + nic_class +
                         "'; " + std::to_string(qualifying) + " qualify");
  }
  // Largest domains first, so the job spans as few as it can.
  std::vector<std::pair<std::string, std::vector<std::string>>> domains(by_domain.begin(), by_domain.end());
  std::stable_sort(domains.begin(), domains.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::vector<std::string> chosen;
  for (auto& [domain, names] : domains) {
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      if (static_cast<int>(chosen.size()) == nodes) break;
      chosen.push_back(n);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::optional<std::string> ChooseReplacement(const std::string& nic_class, const std::string& fenced_domain,
                                             const std::vector<std::string>& job_domains,
                                             const std::vector<PlacementCandidate>& free) {
  const PlacementCandidate* best = nullptr;
  std::tuple<bool, bool, long, std::string> best_key;
  for (const auto& c : free) {
    if (!HasNicClass(c, nic_class)) continue;
    const bool same_domain = !fenced_domain.empty() && c.domain == fenced_domain;
    const long sharing = std::count(job_domains.begin(), job_domains.end(), c.domain);
    auto key = std::make_tuple(!c.spare, same_domain, sharing, c.name);  // smaller is better
    if (!best || key < best_key) {
      best = &c;
      best_key = key;
    }
  }
  if (!best) return std::nullopt;
  return best->name;
}

}  // namespace bulwark::controller
