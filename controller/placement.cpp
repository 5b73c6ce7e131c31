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
                                             const std::vector<PlacementCandidate>& free,
                                             const std::function<double(const PlacementCandidate&)>& modelled_s) {
  std::map<std::string, double> modelled;
  double fastest = 0;
  if (modelled_s) {
    for (const auto& c : free) {
      if (!HasNicClass(c, nic_class)) continue;
      const double s = modelled_s(c);
      modelled[c.name] = s;
      fastest = modelled.size() == 1 ? s : std::min(fastest, s);
    }
  }
  const PlacementCandidate* best = nullptr;
  std::tuple<bool, bool, long, std::string> best_key;
  for (const auto& c : free) {
    if (!HasNicClass(c, nic_class)) continue;
    if (modelled_s && modelled[c.name] > fastest * 1.01) continue;
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

std::string FastestNicClass(const std::vector<std::string>& nic_types) {
  for (const char* c : {"ib", "roce"}) {
    if (std::find(nic_types.begin(), nic_types.end(), c) != nic_types.end()) return c;
  }
  return "ethernet";
}

netplan::PlacementProblem ModelProblem(const JobSpec& spec, const netplan::NicFabric& fabric,
                                       const std::vector<std::pair<std::string, std::string>>& nodes) {
  netplan::PlacementProblem p;
  const ModelSpec& m = spec.model;
  p.job.tp = spec.ranks_per_node;
  p.job.pp = m.pipeline_stages;
  p.job.dp = spec.nodes / m.pipeline_stages;
  p.job.layers = m.layers;
  p.job.hidden = m.hidden;
  p.job.seq_len = m.seq_len;
  p.job.micro_batches = m.micro_batches;
  p.job.micro_batch_size = m.micro_batch_size;
  p.job.gpu_tflops = m.gpu_tflops;
  p.fabric = fabric;
  for (const auto& [name, nic] : nodes) p.nodes.push_back({name, nic, ""});
  return p;
}

Result<ModelPlacement> PlaceModelJob(const JobSpec& spec, const netplan::NicFabric& fabric,
                                     const std::vector<PlacementCandidate>& free) {
  std::vector<std::pair<std::string, std::string>> candidates;
  for (const auto& c : free) {
    if (!c.spare && HasNicClass(c, spec.nic_class)) candidates.emplace_back(c.name, FastestNicClass(c.nic_types));
  }
  std::sort(candidates.begin(), candidates.end());  // rank order is name order, as PlaceJob's
  if (static_cast<int>(candidates.size()) < spec.nodes) {
    return Status::Error("needs " + std::to_string(spec.nodes) + " free healthy worker nodes with NIC class '" +
                         spec.nic_class + "'; " + std::to_string(candidates.size()) + " qualify");
  }
  const netplan::PlacementProblem problem = ModelProblem(spec, fabric, candidates);
  auto layout = netplan::PlaceNicAware(problem);
  if (!layout.ok()) return layout.status();
  ModelPlacement placed;
  for (int n : layout->nodes) placed.nodes.push_back(candidates[n].first);
  placed.stage_layers = layout->layers;
  placed.iteration_s = netplan::Estimate(problem, *layout).iteration_s;
  placed.rank_order_s = netplan::Estimate(problem, netplan::PlaceRankOrder(problem)).iteration_s;
  return placed;
}

double ModelledIteration(const JobSpec& spec, const netplan::NicFabric& fabric,
                         const std::vector<std::pair<std::string, std::string>>& placement,
                         const std::vector<int>& stage_layers) {
  const netplan::PlacementProblem problem = ModelProblem(spec, fabric, placement);
  netplan::Layout layout{{}, stage_layers};
  for (size_t i = 0; i < placement.size(); ++i) layout.nodes.push_back(static_cast<int>(i));
  return netplan::Estimate(problem, layout).iteration_s;
}

}  // namespace bulwark::controller
