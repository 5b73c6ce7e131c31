#include "controller/ctl_placement.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strict_json.h"
#include "common/strict_yaml.h"
#include "common/yaml_json.h"
#include "controller/ctl_table.h"
#include "controller/job.h"
#include "controller/placement.h"
#include "netplan/placement.h"

namespace bulwark::ctl {
namespace {

using nlohmann::json;
using namespace bulwark::netplan;

std::string Slurp(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// nic_classes: [{name, gbps, latency_us}] (they replace netplan's defaults of that name, or
// add one), between_groups: CLASS, nodes: [{name, nic, island}] or [{prefix, count, nic,
// island}] (prefix01 ... prefixNN).
struct ClusterFile {
  std::string name;
  NicFabric fabric;
  std::vector<PlacementNode> nodes;
};

Result<ClusterFile> ReadCluster(const std::string& text, const std::string& source) {
  try {
    StrictMap m(ParseYaml(text, source), source);
    ClusterFile c;
    c.name = m.String("name", "cluster");
    c.fabric.classes = DefaultNicClasses();
    for (StrictMap& k : m.MapList("nic_classes")) {
      NicClass cls{k.String("name", ""), k.Double("gbps", 100, 1e-3, 1e6), k.Double("latency_us", 10, 0, 1e6)};
      if (cls.name.empty()) k.Fail("name", "every NIC class needs a name");
      k.Finish();
      bool replaced = false;
      for (NicClass& known : c.fabric.classes) {
        if (known.name == cls.name) known = cls, replaced = true;
      }
      if (!replaced) c.fabric.classes.push_back(cls);
    }
    c.fabric.between_groups = m.String("between_groups", "ethernet");
    if (!c.fabric.Find(c.fabric.between_groups)) m.Fail("between_groups", "'" + c.fabric.between_groups + "' is not a NIC class");
    std::map<std::string, bool> seen;
    for (StrictMap& n : m.MapList("nodes")) {
      const std::string nic = n.String("nic", "");
      if (!c.fabric.Find(nic)) n.Fail("nic", "'" + nic + "' is not a NIC class (ib, roce, ethernet or one of nic_classes)");
      const std::string island = n.String("island", "");
      std::vector<std::string> names;
      if (n.Has("prefix")) {
        const std::string prefix = n.String("prefix", "");
        const int count = static_cast<int>(n.Int("count", 1, 1, 1 << 20));
        const int width = count >= 100 ? (count >= 1000 ? 4 : 3) : 2;
        for (int i = 1; i <= count; ++i) {
          std::string digits = std::to_string(i);
          names.push_back(prefix + std::string(width - std::min<int>(width, digits.size()), '0') + digits);
        }
      } else {
        names.push_back(n.String("name", ""));
        if (names.back().empty()) n.Fail("name", "a node needs a name, or a prefix and a count");
      }
      n.Finish();
      for (const std::string& name : names) {
        if (seen[name]) n.Fail(n.Has("prefix") ? "prefix" : "name", "node " + name + " is listed twice");
        seen[name] = true;
        c.nodes.push_back({name, nic, island});
      }
    }
    if (c.nodes.empty()) m.Fail("nodes", "the cluster has no nodes");
    m.Finish();
    return c;
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
}

Result<controller::JobSpec> ReadJob(const std::string& text, const std::string& source) {
  std::map<std::string, int> lines;
  try {
    const controller::JobSpec spec = controller::ParseJobSpec(YamlToJson(YAML::Load(text), &lines));
    if (!spec.model.set) return Status::Error(source + ": the job has no model: section (layers, hidden, pipeline_stages, ...) to place by");
    return spec;
  } catch (const YAML::Exception& e) {
    return Status::Error(source + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  } catch (const JsonError& e) {
    return Status::Error(source + ":" + std::to_string(lines.count(e.path()) ? lines[e.path()] : 0) + ": " + e.what());
  }
}

json LayoutJson(const PlacementProblem& p, const Layout& l) {
  const IterationEstimate e = Estimate(p, l);
  json stages = json::array();
  for (int s = 0; s < p.job.pp; ++s) {
    json nodes = json::array();
    for (int d = 0; d < p.job.dp; ++d) nodes.push_back(p.nodes[l.nodes[s * p.job.dp + d]].name);
    stages.push_back({{"stage", s}, {"layers", l.layers[s]}, {"allreduce_over", e.stage_class[s]}, {"nodes", nodes},
                      {"step_s", e.stage_step_s[s]}, {"allreduce_s", e.stage_allreduce_s[s]}});
  }
  return {{"iteration_s", e.iteration_s}, {"pipeline_s", e.pipeline_s}, {"bubble_s", e.bubble_s},
          {"exposed_allreduce_s", e.allreduce_s}, {"samples_per_gpu_s", e.samples_per_gpu_s}, {"stages", stages}};
}

std::string NodeList(const json& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i == 4 && nodes.size() > 6) return out + " … " + nodes.back().get<std::string>() + " (" + std::to_string(nodes.size()) + ")";
    out += (out.empty() ? "" : " ") + nodes[i].get<std::string>();
  }
  return out;
}

void PrintLayout(const char* title, const json& l) {
  std::vector<std::vector<std::string>> rows;
  for (const json& s : l["stages"]) {
    rows.push_back({std::to_string(s["stage"].get<int>()), std::to_string(s["layers"].get<int>()), s["allreduce_over"],
                    Fixed(s["step_s"].get<double>() * 1e3, 1), Fixed(s["allreduce_s"].get<double>() * 1e3, 1), NodeList(s["nodes"])});
  }
  std::printf("%s: iteration %s ms (pipeline %s incl. bubble %s, exposed all-reduce %s)\n", title,
              Fixed(l["iteration_s"].get<double>() * 1e3, 1).c_str(), Fixed(l["pipeline_s"].get<double>() * 1e3, 1).c_str(),
              Fixed(l["bubble_s"].get<double>() * 1e3, 1).c_str(), Fixed(l["exposed_allreduce_s"].get<double>() * 1e3, 1).c_str());
  std::printf("%s", RenderTable({"STAGE", "LAYERS", "ALL-REDUCE OVER", "STEP MS", "ALL-REDUCE MS", "NODES (DATA-PARALLEL RANK ORDER)"}, rows).c_str());
}

}  // namespace

int PlanPlacement(const PlanPlacementOptions& o) {
  bool ok = false;
  const std::string cluster_text = Slurp(o.cluster_file, &ok);
  if (!ok) return std::fprintf(stderr, "bulwarkctl: cannot read the cluster %s\n", o.cluster_file.c_str()), 2;
  auto cluster = ReadCluster(cluster_text, o.cluster_file);
  if (!cluster.ok()) return std::fprintf(stderr, "bulwarkctl: %s\n", cluster.status().message().c_str()), 2;
  const std::string job_text = Slurp(o.job_file, &ok);
  if (!ok) return std::fprintf(stderr, "bulwarkctl: cannot read the job %s\n", o.job_file.c_str()), 2;
  auto spec = ReadJob(job_text, o.job_file);
  if (!spec.ok()) return std::fprintf(stderr, "bulwarkctl: %s\n", spec.status().message().c_str()), 2;

  std::vector<std::pair<std::string, std::string>> nodes;
  for (const PlacementNode& n : cluster->nodes) nodes.emplace_back(n.name, n.nic);
  PlacementProblem problem = controller::ModelProblem(*spec, cluster->fabric, nodes);
  for (size_t i = 0; i < problem.nodes.size(); ++i) problem.nodes[i].island = cluster->nodes[i].island;
  auto placed = PlaceNicAware(problem);
  if (!placed.ok()) {
    return std::fprintf(stderr, "bulwarkctl: cannot place %s on %s: %s\n", spec->name.c_str(), cluster->name.c_str(),
                        placed.status().message().c_str()), 2;
  }
  const json nic = LayoutJson(problem, *placed), rank = LayoutJson(problem, PlaceRankOrder(problem));
  const double speedup = rank["iteration_s"].get<double>() / nic["iteration_s"].get<double>();
  if (o.json) {
    const json out = {{"cluster", cluster->name}, {"job", spec->name}, {"tp", problem.job.tp}, {"pp", problem.job.pp},
                      {"dp", problem.job.dp}, {"nic_aware", nic}, {"rank_order", rank}, {"speedup_over_rank_order", speedup}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%s on %s: %d nodes of %zu, tp %d (inside a node) x pp %d x dp %d\n\n", spec->name.c_str(), cluster->name.c_str(),
              problem.job.nodes(), problem.nodes.size(), problem.job.tp, problem.job.pp, problem.job.dp);
  PrintLayout("NIC-aware", nic);
  std::printf("\n");
  PrintLayout("rank order", rank);
  std::printf("\nNIC-aware placement is %sx rank order's throughput\n", Fixed(speedup, 2).c_str());
  return 0;
}

}  // namespace bulwark::ctl
