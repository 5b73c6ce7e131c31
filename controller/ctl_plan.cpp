#include "controller/ctl_plan.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strict_yaml.h"
#include "controller/ctl_table.h"
#include "netplan/netplan.h"

namespace bulwark::ctl {
namespace {

using nlohmann::json;
using namespace bulwark::netplan;

struct JobFile {
  std::vector<int> placement;
  Collective collective;
  std::string collective_name;
};

// name: ..., collective: allreduce, bytes: N, channels_per_nic: C, stages: S, and the
// hosts as a list of names in rank order, or `count` (the topology's first N hosts) with
// an optional `shuffle_seed` (a scattered placement).
Result<JobFile> ReadJob(const std::string& text, const std::string& source, const Topology& t) {
  try {
    StrictMap m(ParseYaml(text, source), source);
    JobFile job;
    m.String("name", "job");
    job.collective_name = m.String("collective", "allreduce");
    auto kind = CollectiveKindFromName(job.collective_name);
    if (!kind.ok()) m.Fail("collective", kind.status().message());
    job.collective.kind = kind.value();
    job.collective.bytes = m.Double("bytes", 1 << 30, 1, 1e15);
    job.collective.channels_per_nic = static_cast<int>(m.Int("channels_per_nic", 2, 1, 64));
    job.collective.stages = static_cast<int>(m.Int("stages", 1, 1, 1 << 16));
    if (m.Has("hosts")) {
      for (const std::string& name : m.StringList("hosts")) {
        const auto at = std::find(t.hosts.begin(), t.hosts.end(), name);
        if (at == t.hosts.end()) m.Fail("hosts", "no host named '" + name + "' in the topology");
        job.placement.push_back(static_cast<int>(at - t.hosts.begin()));
      }
    } else {
      const int count = static_cast<int>(m.Int("count", static_cast<int64_t>(t.hosts.size()), 2, static_cast<int64_t>(t.hosts.size())));
      job.placement.resize(count);
      std::iota(job.placement.begin(), job.placement.end(), 0);
      if (m.Has("shuffle_seed")) {
        std::vector<int> all(t.hosts.size());
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), std::mt19937(static_cast<uint32_t>(m.Int("shuffle_seed", 1, 0, UINT32_MAX))));
        job.placement.assign(all.begin(), all.begin() + count);
      }
    }
    if (job.placement.size() < 2) m.Fail("hosts", "a job needs at least 2 hosts");
    m.Finish();
    return job;
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
}

std::string ReadAll(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

}  // namespace

int PlanTraffic(const PlanTrafficOptions& o) {
  bool ok = false;
  const std::string topology_text = ReadAll(o.topology_file, &ok);
  if (!ok) return std::fprintf(stderr, "bulwarkctl: cannot read the topology %s\n", o.topology_file.c_str()), 2;
  auto topology = ParseTopology(topology_text, o.topology_file);
  if (!topology.ok()) return std::fprintf(stderr, "bulwarkctl: %s\n", topology.status().message().c_str()), 2;
  const std::string job_text = ReadAll(o.job_file, &ok);
  if (!ok) return std::fprintf(stderr, "bulwarkctl: cannot read the job %s\n", o.job_file.c_str()), 2;
  auto job = ReadJob(job_text, o.job_file, topology.value());
  if (!job.ok()) return std::fprintf(stderr, "bulwarkctl: %s\n", job.status().message().c_str()), 2;
  const Topology& t = topology.value();

  json out = {{"topology", t.name}, {"hosts", job->placement.size()}, {"collective", job->collective_name}, {"phases", json::array()}};
  std::vector<std::vector<std::string>> rows, flow_rows;
  for (const Phase& phase : CollectiveFlows(t, job->placement, job->collective)) {
    const Plan plan = PlanPhase(t, phase);
    const Plan ecmp = EcmpPhase(t, phase);
    size_t inter = 0;
    for (const FlowRoute& r : plan.routes) inter += !r.paths.empty();
    const double planned_s = PredictCompletion(t, phase, plan.routes), ecmp_s = PredictCompletion(t, phase, ecmp.routes);
    const double ideal_s = IdealCompletion(t, phase);
    const double ratio = plan.bound_s > 0 ? plan.max_load_s / plan.bound_s : 1, ecmp_ratio = plan.max_load_s > 0 ? ecmp.max_load_s / plan.max_load_s : 1;
    json flows = json::array();
    for (size_t i = 0; i < phase.flows.size(); ++i) {
      const Flow& f = phase.flows[i];
      json paths = json::array();
      std::string spines, ports;
      for (const PathShare& p : plan.routes[i].paths) {
        paths.push_back({{"spine", t.spines[p.spine].name}, {"fraction", p.fraction}, {"src_port", p.src_port}});
        spines += (spines.empty() ? "" : " ") + t.spines[p.spine].name + (p.fraction < 1 ? "×" + Fixed(p.fraction, 3) : "");
        ports += (ports.empty() ? "" : " ") + std::to_string(p.src_port);
      }
      const std::string src = t.hosts[t.nics[f.src_nic].host] + "/" + t.nics[f.src_nic].name;
      const std::string dst = t.hosts[t.nics[f.dst_nic].host] + "/" + t.nics[f.dst_nic].name;
      flows.push_back({{"src", src}, {"dst", dst}, {"channel", f.channel}, {"bytes", f.bytes}, {"paths", paths}});
      if (o.flows) flow_rows.push_back({phase.name, src, dst, std::to_string(f.channel), spines.empty() ? "(same leaf)" : spines, ports});
    }
    out["phases"].push_back({{"name", phase.name},
                             {"flows", phase.flows.size()},
                             {"inter_leaf_flows", inter},
                             {"split_flows", plan.split_flows},
                             {"unroutable_flows", plan.unroutable_flows},
                             {"max_load_s", plan.max_load_s},
                             {"bound_s", plan.bound_s},
                             {"max_load_over_bound", ratio},
                             {"ecmp_max_load_over_planned", ecmp_ratio},
                             {"completion_s", {{"planned", planned_s}, {"ecmp", ecmp_s}, {"ideal", ideal_s}}},
                             {"routes", flows}});
    rows.push_back({phase.name, std::to_string(phase.flows.size()), std::to_string(inter), std::to_string(plan.split_flows),
                    Fixed(ratio, 3), Fixed(ecmp_ratio, 2) + "x", Fixed(planned_s * 1e3, 2) + " / " + Fixed(ecmp_s * 1e3, 2) + " / " + Fixed(ideal_s * 1e3, 2)});
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%s on %zu hosts of %s (%zu leaves, %zu spines)\n", job->collective_name.c_str(), job->placement.size(), t.name.c_str(),
              t.leaves.size(), t.spines.size());
  std::printf("%s", RenderTable({"PHASE", "FLOWS", "INTER-LEAF", "SPLIT", "MAX/BOUND", "ECMP/PLANNED", "MS PLANNED / ECMP / IDEAL"}, rows).c_str());
  if (o.flows) std::printf("\n%s", RenderTable({"PHASE", "FROM", "TO", "CHANNEL", "SPINES", "SOURCE PORTS"}, flow_rows).c_str());
  return 0;
}

}  // namespace bulwark::ctl
