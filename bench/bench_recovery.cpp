// Time lost to a node failure: Bulwark's hot restart from peers' memory against restarting
// from a disk checkpoint, both measured in this run on the same ~106M-parameter job (4
// ranks, 1.27 GB of sharded optimizer state; trainer/configs/recovery-bench.yaml).
//
// Bulwark: a local cluster (controller, 4 agents, 1 spare); the job snapshots every step
// into the agents' memory, RS(2,1) across nodes; node-02's rank dies at step kFaultStep; the
// controller's recovery record gives detect, isolate, relaunch, restore and first step.
// Time lost = the time to repair + the steps redone (after the recovery point) × step time.
//
// Disk baseline: the same job with plain mpirun; one checkpoint is written to measure its
// cost, K is the smallest interval at which checkpointing costs <= 5% of step time, and the
// restart is measured as it happens (mpirun, every rank reading its state from disk with the
// page cache dropped, first step). Time lost = Bulwark's own detection (the baseline gets it
// free) + that restart + K/2 steps redone on average.
//
//   bench_recovery [--keep DIR]   prints one JSON object as its last line; takes ~5 minutes.
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kConfig = std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/recovery-bench.yaml";
constexpr int kRanks = 4;
constexpr int kSteps = 16;
constexpr int kFaultStep = 10;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// A command's stdout lines with the time each arrived (relative to the start).
struct TimedLines {
  std::vector<std::pair<double, std::string>> lines;
  int status = 0;
};

TimedLines RunTimed(const std::string& cmd) {
  TimedLines out;
  const auto t0 = Clock::now();
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char* line = nullptr;
  size_t cap = 0;
  while (::getline(&line, &cap, p) > 0) out.lines.emplace_back(Seconds(t0, Clock::now()), line);
  std::free(line);
  out.status = ::pclose(p);
  return out;
}

std::vector<std::pair<double, json>> StepLines(const TimedLines& t) {
  std::vector<std::pair<double, json>> steps;
  for (const auto& [at, text] : t.lines) {
    if (text.rfind("{\"step\"", 0) == 0) steps.emplace_back(at, json::parse(text));
  }
  return steps;
}

std::string Mpirun() { return std::string(BULWARK_MPIRUN) + " --bind-to none -np " + std::to_string(kRanks) + " "; }
std::string Train() { return std::string(BULWARK_TRAIN_BIN) + " --config " + kConfig; }

void DropPageCache() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";  // needs root; without it the read is from memory
}

}  // namespace

int main(int argc, char** argv) {
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--keep" && i + 1 < argc) keep = argv[++i];
  }
  const std::string dir = keep.empty() ? (fs::temp_directory_path() / ("bench_recovery." + std::to_string(::getpid()))).string() : keep;
  fs::create_directories(dir);
  const std::string ctl = std::string(BULWARK_CTL) + " --dir " + dir + "/cluster";
  json out = {{"bench", "recovery"}, {"config", "recovery-bench.yaml"}, {"ranks", kRanks}};

  // --- the disk baseline -------------------------------------------------------------
  // One checkpoint at step 3 of 6: its cost is the extra wall time after that step.
  std::fprintf(stderr, "bench_recovery: disk baseline: 6 steps with a checkpoint at step 3\n");
  const std::string state = dir + "/state";
  fs::create_directories(state);
  const TimedLines saved = RunTimed(Mpirun() + Train() + " --steps 6 --save-at 3 --state-dir " + state + " 2>" + dir + "/save.err");
  const auto steps = StepLines(saved);
  if (steps.size() != 6) {
    std::fprintf(stderr, "bench_recovery: the baseline run printed %zu steps (see %s/save.err)\n", steps.size(), dir.c_str());
    return 1;
  }
  std::vector<double> gaps;
  for (size_t i = 1; i < steps.size(); ++i) {
    if (i != 3) gaps.push_back(steps[i].first - steps[i - 1].first);  // the gap after step 3 holds the save
  }
  const double step_s = Median(gaps);
  const double save_s = std::max(0.0, (steps[3].first - steps[2].first) - step_s);
  uint64_t state_bytes = 0;
  for (const auto& f : fs::directory_iterator(state)) state_bytes += fs::file_size(f.path());
  const int k = std::max(1, static_cast<int>(std::ceil(save_s / (0.05 * step_s))));
  // The restart as it happens after a failure: every rank reads its state back from disk.
  DropPageCache();
  const TimedLines resumed = RunTimed(Mpirun() + Train() + " --steps 4 --resume " + state + " 2>" + dir + "/resume.err");
  const auto resumed_steps = StepLines(resumed);
  if (resumed_steps.empty()) {
    std::fprintf(stderr, "bench_recovery: the resumed run printed no step (see %s/resume.err)\n", dir.c_str());
    return 1;
  }
  const double resume_s = resumed_steps.front().first;
  out["step_s"] = step_s;
  out["state_bytes_total"] = state_bytes;
  out["disk_checkpoint"] = {{"save_s", save_s},
                            {"interval_steps", k},
                            {"checkpoint_cost_fraction", save_s / (k * step_s)},
                            {"restart_to_first_step_s", resume_s},
                            {"steps_redone_mean", k / 2.0}};

  // --- Bulwark -------------------------------------------------------------------------
  std::fprintf(stderr, "bench_recovery: Bulwark: local cluster, %d steps, node-02 fails at step %d\n", kSteps, kFaultStep);
  Output(ctl + " cluster down >/dev/null 2>&1");
  if (std::system((ctl + " cluster up --nodes 4 --spares 1 --heartbeat-ms 250 --local-hang-ms 5000 --hang-ms 30000 "
                         "--snapshot-k 2 --snapshot-m 1 >" + dir + "/up.log 2>&1").c_str()) != 0) {
    std::fprintf(stderr, "bench_recovery: cluster up failed (see %s/up.log)\n", dir.c_str());
    return 1;
  }
  std::ofstream(dir + "/job.yaml") << "name: recovery-bench\n"
                                   << "command: [" << BULWARK_TRAIN_BIN << ", --config, " << kConfig << ", --steps, '"
                                   << kSteps << "']\n"
                                   << "nodes: 4\nranks_per_node: 1\nrestart_budget: 2\n"
                                   << "snapshot: {every_steps: 1, k: 2, m: 1}\n"
                                   << "env: {BULWARK_FAULTS: 'crash:step=" << kFaultStep << ":node=node-02'}\n";
  const json submitted = json::parse(Output(ctl + " --json job submit " + dir + "/job.yaml"), nullptr, false);
  const std::string id = submitted.is_object() ? submitted.value("id", "") : "";
  json job;
  const auto until = Clock::now() + std::chrono::minutes(10);
  while (!id.empty() && Clock::now() < until) {
    job = json::parse(Output(ctl + " --json job " + id + " 2>/dev/null"), nullptr, false);
    const std::string s = job.is_object() ? job.value("state", "") : "";
    if (s == "succeeded" || s == "failed" || s == "cancelled") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  Output(ctl + " cluster down >/dev/null 2>&1");
  if (!job.is_object() || job.value("state", "") != "succeeded" || job["recoveries"].empty()) {
    std::fprintf(stderr, "bench_recovery: the job did not recover and finish: %s\n", job.dump().c_str());
    return 1;
  }
  const json r = job["recoveries"][0];
  const json mttr = r["mttr_ms"];
  const double mttr_s = mttr.value("total", 0) / 1000.0;
  const int64_t restore_step = r["restore_step"].is_number() ? r["restore_step"].get<int64_t>() : 0;
  const int64_t redone = std::max<int64_t>(0, (kFaultStep - 1) - restore_step);
  const double bulwark_lost_s = mttr_s + redone * step_s;
  const double detect_s = mttr.value("detect", 0) / 1000.0;
  const double baseline_lost_s = detect_s + resume_s + (k / 2.0) * step_s;
  out["bulwark"] = {{"mttr_ms", mttr},
                    {"restore_step", restore_step},
                    {"steps_redone", redone},
                    {"time_lost_s", bulwark_lost_s},
                    {"final_step", job["result"]["last"].value("step", 0)}};
  out["disk_checkpoint"]["time_lost_s"] = baseline_lost_s;
  out["mttr_s"] = mttr_s;
  out["mttr_goal_s"] = 5;
  out["time_lost_ratio_disk_vs_bulwark"] = baseline_lost_s / bulwark_lost_s;
  out["time_lost_ratio_goal"] = 10;
  if (keep.empty()) fs::remove_all(dir);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
