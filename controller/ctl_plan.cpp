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
    const PhaseReport report = ReportPhase(t, phase, plan);
    json flows = json::array();
    for (size_t i = 0; i < phase.flows.size(); ++i) {
      const Flow& f = phase.flows[i];
      std::string spines, ports;
      for (const PathShare& p : plan.routes[i].paths) {
        spines += (spines.empty() ? "" : " ") + t.spines[p.spine].name + (p.fraction < 1 ? "×" + Fixed(p.fraction, 3) : "");
        ports += (ports.empty() ? "" : " ") + std::to_string(p.src_port);
      }
      flows.push_back(RouteJson(t, f, plan.routes[i]));
      if (o.flows) flow_rows.push_back({phase.name, NicLabel(t, f.src_nic), NicLabel(t, f.dst_nic), std::to_string(f.channel), spines.empty() ? "(same leaf)" : spines, ports});
    }
    json shown = {{"name", phase.name}};
    shown.update(ToJson(report));
    shown["routes"] = flows;
    out["phases"].push_back(shown);
    rows.push_back({phase.name, std::to_string(report.flows), std::to_string(report.inter_leaf_flows),
                    std::to_string(report.split_flows), Fixed(report.max_load_over_bound, 3),
                    Fixed(report.ecmp_max_load_over_planned, 2) + "x",
                    Fixed(report.planned_s * 1e3, 2) + " / " + Fixed(report.ecmp_s * 1e3, 2) + " / " + Fixed(report.ideal_s * 1e3, 2)});
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

void PrintJobPlan(const json& p) {
  if (!p.value("planned", false)) {
    std::printf("%s: no traffic plan: %s\n", p.value("job", "").c_str(), p.value("reason", "").c_str());
    return;
  }
  std::printf("%s: %s of %s MiB per rank on %zu nodes of %s; plan %d, attempt %d%s\n", p["job"].get<std::string>().c_str(),
              p["collective"].get<std::string>().c_str(), Fixed(p["bytes"].get<double>() / (1 << 20), 0).c_str(),
              p["nodes"].size(), p["topology"].get<std::string>().c_str(), p["generation"].get<int>(), p["attempt"].get<int>(),
              p.value("current", true) ? "" : " (an older attempt's)");
  std::vector<std::vector<std::string>> rows;
  for (const json& ph : p["phases"]) {
    rows.push_back({ph["name"], std::to_string(ph["flows"].get<size_t>()), std::to_string(ph["inter_leaf_flows"].get<size_t>()),
                    std::to_string(ph["split_flows"].get<size_t>()), std::to_string(ph["unroutable_flows"].get<size_t>()),
                    Fixed(ph["max_load_over_bound"].get<double>(), 3), Fixed(ph["ecmp_max_load_over_planned"].get<double>(), 2) + "x",
                    Fixed(ph["completion_s"]["planned"].get<double>() * 1e3, 2) + " / " +
                        Fixed(ph["completion_s"]["ecmp"].get<double>() * 1e3, 2) + " / " +
                        Fixed(ph["completion_s"]["ideal"].get<double>() * 1e3, 2)});
  }
  std::printf("%s", RenderTable({"PHASE", "FLOWS", "INTER-LEAF", "SPLIT", "UNROUTABLE", "MAX/BOUND", "ECMP/PLANNED",
                                 "MS PLANNED / ECMP / IDEAL"}, rows).c_str());
  rows.clear();
  for (const json& h : p["history"]) {
    rows.push_back({std::to_string(h["generation"].get<int>()), h["trigger"], std::to_string(h["moved_flows"].get<size_t>()),
                    Fixed(h["max_load_over_bound"].get<double>(), 3)});
  }
  std::printf("\n%s", RenderTable({"PLAN", "TRIGGER", "MOVED FLOWS", "MAX/BOUND"}, rows).c_str());
  if (!p.contains("flows")) return;
  rows.clear();
  for (const json& f : p["flows"]) {
    std::string spines, ports;
    for (const json& s : f["paths"]) {
      const double fraction = s["fraction"].get<double>();
      spines += (spines.empty() ? "" : " ") + s["spine"].get<std::string>() + (fraction < 1 ? "×" + Fixed(fraction, 3) : "");
      ports += (ports.empty() ? "" : " ") + std::to_string(s["src_port"].get<int>());
    }
    if (f.value("unroutable", false)) spines = "(no usable spine)";
    rows.push_back({f["phase"], f["src"], f["dst"], std::to_string(f["channel"].get<int>()), spines.empty() ? "(same leaf)" : spines,
                    ports.empty() ? "-" : ports});
  }
  std::printf("\nflows sent by %s:\n%s", p["node"].get<std::string>().c_str(),
              RenderTable({"PHASE", "FROM", "TO", "CHANNEL", "SPINES", "SOURCE PORTS"}, rows).c_str());
}

void PrintFabric(const json& f) {
  if (!f.value("configured", false)) {
    std::printf("no fabric topology: %s\n", f.value("hint", "").c_str());
    return;
  }
  std::printf("%s: hosts %zu, NICs %zu, leaves %zu, spines %zu\n", f["name"].get<std::string>().c_str(), f["hosts"].get<size_t>(),
              f["nics"].get<size_t>(), f["leaves"].get<size_t>(), f["spines"].get<size_t>());
  if (f["links_down"].empty()) {
    std::printf("every link up\n");
    return;
  }
  for (const json& l : f["links_down"]) std::printf("down: %s - %s\n", l["leaf"].get<std::string>().c_str(), l["spine"].get<std::string>().c_str());
}

void PrintLinkChange(const json& c) {
  std::printf("link %s - %s: %s%s\n", c["leaf"].get<std::string>().c_str(), c["spine"].get<std::string>().c_str(),
              c["state"].get<std::string>().c_str(), c["changed"].get<bool>() ? "" : " (unchanged)");
  for (const json& r : c["replanned"]) {
    std::printf("replanned %s: %zu flows moved, max load %s of the bound\n", r["job"].get<std::string>().c_str(),
                r["moved_flows"].get<size_t>(), Fixed(r["max_load_over_bound"].get<double>(), 3).c_str());
  }
}

}  // namespace bulwark::ctl
