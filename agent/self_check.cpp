#include "agent/self_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

#include "agent/run_capturing.h"
#include "common/strict_json.h"
#include "diagnostics/gpu_check.h"
#include "diagnostics/mpi_check.h"
#include "diagnostics/node_probes.h"

namespace bulwark::agent {
namespace {

struct Outcome {
  Outcome(bool ok_, std::string detail_, double value_ = 0, std::string unit_ = "")
      : ok(ok_), detail(std::move(detail_)), value(value_), unit(std::move(unit_)) {}
  bool ok;
  std::string detail;
  double value;  // measured checks: compared against the baseline
  std::string unit;
  bool skipped = false;  // could not run here (nothing to run it with): neither pass nor fail
};

// Nothing to run the check with here: neither a pass nor a fault of the node.
Outcome Skipped(const std::string& why) {
  Outcome skipped(true, "skipped: " + why);
  skipped.skipped = true;
  return skipped;
}

// How a child that printed no usable report ended.
std::string HowItEnded(const CapturedRun& run) {
  return run.signal ? "died on signal " + std::to_string(run.signal) : "exited with " + std::to_string(run.exit_code);
}

bool Contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

Outcome FromProbe(const diagnostics::ProbeResult& p) { return {p.ok, p.detail, p.value, p.unit}; }

Outcome MemoryBandwidth(const SelfCheckOptions&) { return FromProbe(diagnostics::MemoryBandwidth()); }
Outcome CpuArithmetic(const SelfCheckOptions&) { return FromProbe(diagnostics::CpuArithmetic()); }
Outcome LoopbackTcp(const SelfCheckOptions&) { return FromProbe(diagnostics::LoopbackTcp()); }

// Every peer agent answers; each one's median round trip is in the detail (no baseline:
// the set of peers changes between runs).
Outcome PeerLatency(const SelfCheckOptions& o) {
  if (o.peers.empty()) return {true, "no peers given"};
  std::string detail;
  for (const auto& peer : o.peers) {
    const auto p = diagnostics::HttpRoundTrip(peer);
    if (!p.ok) return {false, p.detail};
    detail += (detail.empty() ? "" : "; ") + p.detail;
  }
  return {true, detail};
}

// Writes, fsyncs, reads back and removes a file: catches full, read-only or broken disks.
Outcome WorkDirWritable(const SelfCheckOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.work_dir, ec);
  const std::string path = o.work_dir + "/.self-check";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return {false, "cannot create " + path};
  const char data[] = "bulwark self-check";
  const bool written = ::write(fd, data, sizeof(data)) == static_cast<ssize_t>(sizeof(data)) && ::fsync(fd) == 0;
  ::close(fd);
  std::ifstream in(path);
  std::string back;
  std::getline(in, back, '\0');
  std::filesystem::remove(path, ec);
  if (!written || back != "bulwark self-check") return {false, "write/read-back failed in " + o.work_dir};
  return {true, o.work_dir + " is writable"};
}

Outcome MemoryAvailable(const SelfCheckOptions& o) {
  std::ifstream in(o.procfs_root + "/meminfo");
  std::string line;
  long long total = 0, available = 0;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) == 0) total = std::atoll(line.c_str() + 9);
    if (line.rfind("MemAvailable:", 0) == 0) available = std::atoll(line.c_str() + 13);
  }
  if (total <= 0) return {false, "cannot read " + o.procfs_root + "/meminfo"};
  const bool ok = available * 20 >= total;  // at least 5% free
  return {ok, std::to_string(available / 1024) + " MiB of " + std::to_string(total / 1024) + " MiB available"};
}

Outcome ClockMonotonic(const SelfCheckOptions&) {
  const auto a = std::chrono::steady_clock::now();
  ::usleep(1000);
  const auto b = std::chrono::steady_clock::now();
  return {b > a, b > a ? "steady clock advances" : "steady clock did not advance"};
}

Outcome ProcessTable(const SelfCheckOptions& o) {
  const bool ok = std::filesystem::exists(o.procfs_root + "/self/stat");
  return {ok, ok ? "process table readable" : o.procfs_root + "/self/stat unreadable"};
}

// A small MPI job through the node's MPI launcher: ping-pong and an allreduce with a known
// answer (bulwark-mpi-check). Two ranks on this node, or one per host in o.mpi_hosts.
// Only the local pair has a baseline: a run over chosen hosts measures other links.
Outcome MpiPingPongAllreduce(const SelfCheckOptions& o) {
  if (!o.run_mpi && !Contains(o.only, "mpi_pingpong_allreduce")) {
    return Skipped("runs when asked (bulwarkctl diag, or a self_check command with mpi or mpi_hosts)");
  }
  if (o.mpi_launcher.empty() || o.mpi_program.empty()) {
    return Skipped("no MPI launcher and program (self_check.mpi, or bulwark-mpirun and bulwark-mpi-check beside the agent)");
  }
  std::vector<std::string> argv = {o.mpi_launcher, "--bind-to", "none"};  // unbound: a busy core slows only its rank
  if (o.mpi_hosts.empty()) {
    argv.insert(argv.end(), {"-np", "2"});
  } else {
    std::string hosts;
    for (const auto& h : o.mpi_hosts) hosts += (hosts.empty() ? "" : ",") + h;
    argv.insert(argv.end(), {"-np", std::to_string(o.mpi_hosts.size()), "--host", hosts});
  }
  argv.push_back(o.mpi_program);
  argv.insert(argv.end(), o.mpi_program_args.begin(), o.mpi_program_args.end());
  const auto run = RunCapturing(argv, o.mpi_timeout_ms);
  if (!run.ok()) return {false, "cannot run the MPI check: " + run.status().message()};
  if (run->timed_out) return {false, "MPI check did not finish in " + std::to_string(o.mpi_timeout_ms) + " ms"};
  const auto report = diagnostics::ParseMpiCheckReport(run->output);
  if (!report.ok()) return {false, "the MPI check " + HowItEnded(*run) + ": " + report.status().message()};
  if (!report->error.empty()) return {false, "MPI check: " + report->error};
  char text[256];
  std::snprintf(text, sizeof(text), "%d ranks: %.1f us latency, %.0f MB/s (worst: %s), allreduce %.0f us", report->ranks,
                report->latency_us, report->mbps, report->worst_peer.c_str(), report->allreduce_us);
  if (!report->allreduce_ok) return {false, std::string(text) + "; allreduce returned WRONG sums"};
  if (run->exit_code != 0) return {false, std::string(text) + "; but the job exited with " + std::to_string(run->exit_code)};
  return {true, std::string(text) + ", sums correct", report->mbps, o.mpi_hosts.empty() ? "MB/s" : ""};
}

// bulwark-gpu-check in a child process: a driver that hangs costs a timeout, and the agent
// never holds a CUDA context (or the GPU memory one takes).
Outcome GpuProgram(const SelfCheckOptions& o, const std::string& which) {
  if (o.gpu_program.empty()) {
    return Skipped(o.expected_gpus > 0 ? "this build has no GPU checks (built without the CUDA headers), though the node has " +
                                             std::to_string(o.expected_gpus) + " GPUs"
                                       : "no GPU checks in this build (no CUDA headers)");
  }
  const auto run = RunCapturing({o.gpu_program, which, "--expect-gpus", std::to_string(o.expected_gpus), "--cuda-library",
                                 o.cuda_library, "--nccl-library", o.nccl_library},
                                o.gpu_timeout_ms);
  if (!run.ok()) return {false, "cannot run the GPU check: " + run.status().message()};
  if (run->timed_out) return {false, "the " + which + " check did not finish in " + std::to_string(o.gpu_timeout_ms) + " ms (a GPU or its driver hangs)"};
  const auto report = diagnostics::ParseCheckReport(run->output);
  if (!report.ok()) return {false, "the " + which + " check " + HowItEnded(*run) + ": " + report.status().message()};
  Outcome outcome(report->ok, report->detail, report->value, report->unit);
  outcome.skipped = report->skipped;
  return outcome;
}

Outcome GpuMemory(const SelfCheckOptions& o) { return GpuProgram(o, "gpu"); }
Outcome NcclAllreduce(const SelfCheckOptions& o) { return GpuProgram(o, "nccl"); }

const std::vector<std::pair<std::string, std::function<Outcome(const SelfCheckOptions&)>>>& Checks() {
  static const std::vector<std::pair<std::string, std::function<Outcome(const SelfCheckOptions&)>>> kChecks = {
      {"work_dir_writable", WorkDirWritable},
      {"memory_available", MemoryAvailable},
      {"clock_monotonic", ClockMonotonic},
      {"process_table", ProcessTable},
      {"cpu_arithmetic", CpuArithmetic},
      {"memory_bandwidth", MemoryBandwidth},
      {"loopback_tcp", LoopbackTcp},
      {"peer_latency", PeerLatency},
      {"mpi_pingpong_allreduce", MpiPingPongAllreduce},
      {"gpu_memory", GpuMemory},
      {"nccl_allreduce", NcclAllreduce},
  };
  return kChecks;
}

}  // namespace

std::vector<std::string> SelfCheckNames() {
  std::vector<std::string> names;
  for (const auto& [name, check] : Checks()) names.push_back(name);
  return names;
}

namespace {

nlohmann::json ReadBaseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();  // a damaged baseline is recorded again
}

void WriteBaseline(const std::string& path, const nlohmann::json& baseline) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << baseline.dump(2) << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
}

// A measured rate against its baseline: recorded the first time, compared after.
void Compare(const std::string& name, const SelfCheckOptions& o, nlohmann::json* baseline, bool* changed,
             Outcome* outcome, nlohmann::json* entry) {
  if (!outcome->ok || outcome->unit.empty() || outcome->unit == "us" || o.baseline_path.empty()) return;
  (*entry)["value"] = outcome->value;
  (*entry)["unit"] = outcome->unit;
  if (!baseline->contains(name)) {
    (*baseline)[name] = outcome->value;
    *changed = true;
    outcome->detail += " (baseline recorded)";
    return;
  }
  const double base = (*baseline)[name].get<double>();
  (*entry)["baseline"] = base;
  char text[128];
  std::snprintf(text, sizeof(text), " (baseline %.2f %s, fails below %.0f%% of it)", base, outcome->unit.c_str(),
                o.min_fraction_of_baseline * 100);
  outcome->detail += text;
  if (outcome->value < base * o.min_fraction_of_baseline) outcome->ok = false;
}

}  // namespace

nlohmann::json RunSelfChecks(const SelfCheckOptions& options) {
  nlohmann::json checks = nlohmann::json::array();
  nlohmann::json baseline = options.baseline_path.empty() ? nlohmann::json::object() : ReadBaseline(options.baseline_path);
  bool baseline_changed = false;
  std::string failed;
  for (const auto& name : options.only) {
    if (!Contains(SelfCheckNames(), name)) {
      checks.push_back({{"name", name}, {"ok", false}, {"detail", "no such check"}});
      failed += (failed.empty() ? "" : ", ") + name;
    }
  }
  int run = 0, skipped = 0;
  for (const auto& [name, check] : Checks()) {
    if (!options.only.empty() && !Contains(options.only, name)) continue;
    Outcome outcome = check(options);
    nlohmann::json entry = nlohmann::json::object();
    Compare(name, options, &baseline, &baseline_changed, &outcome, &entry);
    if (Contains(options.forced_fail, name)) outcome = {false, "forced to fail by self_check.fail (fault injection)"};
    entry["name"] = name;
    entry["ok"] = outcome.ok;
    entry["detail"] = outcome.detail;
    if (outcome.skipped) entry["skipped"] = true;
    skipped += outcome.skipped ? 1 : 0;
    checks.push_back(std::move(entry));
    if (!outcome.ok) failed += (failed.empty() ? "" : ", ") + name + " (" + outcome.detail + ")";
    ++run;
  }
  if (baseline_changed) WriteBaseline(options.baseline_path, baseline);
  const bool passed = failed.empty();
  return {{"passed", passed},
          {"summary", passed ? std::to_string(run - skipped) + " checks passed" +
                                   (skipped ? ", " + std::to_string(skipped) + " skipped" : "")
                             : failed},
          {"checks", checks}};
}

}  // namespace bulwark::agent
