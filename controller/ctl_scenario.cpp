#include "controller/ctl_scenario.h"

#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/strict_json.h"
#include "common/token.h"
#include "common/yaml_json.h"
#include "controller/ctl_cluster.h"
#include "controller/ctl_table.h"
#include "controller/injection.h"
#include "controller/job.h"
#include "controller/scenario.h"

namespace bulwark::ctl {
namespace {

namespace fs = std::filesystem;
using controller::Scenario;
using nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ${BULWARK_BIN} and ${SCENARIO_DIR} in every string of the job spec.
void Substitute(json& j, const std::map<std::string, std::string>& vars) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    for (const auto& [name, value] : vars) {
      for (size_t at; (at = s.find(name)) != std::string::npos;) s.replace(at, name.size(), value);
    }
    j = s;
  } else if (j.is_array() || j.is_object()) {
    for (auto& v : j) Substitute(v, vars);
  }
}

std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The job run once without faults under plain mpirun: its final digest is what every run
// with faults must end with.
std::string ReferenceDigest(const json& job, const std::string& bin_dir, std::string* error) {
  const int ranks = job.value("nodes", 1) * job.value("ranks_per_node", 1);
  std::string cmd = Quoted(bin_dir + "/bulwark-mpirun") + " -np " + std::to_string(ranks) + " env";
  for (const auto& [key, value] : job.value("env", json::object()).items()) {
    if (key != "BULWARK_FAULTS" && value.is_string()) cmd += " " + Quoted(key + "=" + value.get<std::string>());
  }
  for (const auto& arg : job["command"]) cmd += " " + Quoted(arg.get<std::string>());
  std::string last;
  if (FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r")) {
    char line[4096];
    while (std::fgets(line, sizeof line, p)) {
      if (std::string(line).rfind("{\"step\"", 0) == 0) last = line;
    }
    if (::pclose(p) != 0) *error = "the uninterrupted run failed: " + cmd;
  }
  const json step = json::parse(last, nullptr, false);
  if (!step.is_object() || !step.contains("digest")) {
    if (error->empty()) *error = "the uninterrupted run printed no step: " + cmd;
    return "";
  }
  return step["digest"];
}

json Get(http::Client& client, const std::string& path) {
  auto r = client.Send("GET", path);
  if (!r.ok() || r->status != 200) return json::object();
  json j = json::parse(r->body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

std::string Text(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

bool Ended(const json& job) {
  const std::string s = job.value("state", std::string());
  return s == "succeeded" || s == "failed" || s == "cancelled";
}

// The job is recovering and its recovery is in this phase.
bool InPhase(const json& job, const std::string& phase) {
  return job.value("state", std::string()) == "recovering" && job.contains("recovery") && job["recovery"].is_object() &&
         Text(job["recovery"], "phase") == phase;
}

// Injects one fault: through the controller, or (kill-controller) struck by this tool.
json Inject(http::Client& client, const json& body, const std::string& dir, const std::string& bin_dir) {
  auto r = client.Send("POST", "/v1/injections", body.dump());
  json record = r.ok() ? json::parse(r->body, nullptr, false) : json();
  if (!r.ok() || r->status >= 300 || !record.is_object()) {
    const std::string why = !r.ok() ? r.status().message() : record.is_object() ? record.value("error", r->body) : r->body;
    return {{"state", "refused"}, {"error", why}};
  }
  const std::string id = record.value("id", std::string());
  if (body.value("kind", std::string()) == "kill-controller") {
    if (StrikeController(dir, record.value("duration_ms", int64_t{2000}), bin_dir) != 0) {
      return {{"id", id}, {"state", "refused"}, {"error", "the controller did not come back"}};
    }
    auto healed = client.Send("POST", "/v1/injections/" + id + "/heal", "{}");
    return healed.ok() && healed->status < 300 ? json::parse(healed->body, nullptr, false) : record;
  }
  for (int i = 0; i < 150 && record.value("state", std::string()) == "sent"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    record = Get(client, "/v1/injections/" + id);
  }
  return record;
}

std::string Ms(const std::optional<int64_t>& ms) {
  if (!ms) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", *ms / 1000.0);
  return text;
}

void PrintResult(const Scenario& scenario, const controller::RunResult& result) {
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < result.faults.size(); ++i) {
    const auto& f = result.faults[i];
    std::string problems;
    for (const auto& p : f.problems) problems += (problems.empty() ? "" : "; ") + p;
    rows.push_back({std::to_string(i + 1), f.kind, f.node.empty() ? "-" : f.node, f.verdict.empty() ? "-" : f.verdict,
                    f.blamed.empty() ? "-" : json(f.blamed).dump(), Ms(f.detect_ms), Ms(f.mttr_ms),
                    f.steps_lost ? std::to_string(*f.steps_lost) : "-", problems.empty() ? "ok" : problems});
  }
  std::printf("scenario %s\n%s", scenario.name.c_str(),
              RenderTable({"#", "FAULT", "NODE", "VERDICT", "BLAMED", "DETECT", "MTTR", "STEPS LOST", "EXPECTATIONS"}, rows).c_str());
  for (const auto& p : result.problems) std::printf("run: %s\n", p.c_str());
  std::printf("wall %.1f s, lost %.1f s, ETTR %.1f%%: %s\n", result.wall_s, result.lost_s, 100 * result.ettr,
              result.passed() ? "PASSED" : "FAILED");
}

// A soak's nodes come back: an agent that died (kill-node) is started again, and a node
// fenced off is readmitted as a spare, as a repaired machine would be. Quiet unless it acts.
void Repair(const ClusterUpOptions& up, http::Client& client) {
  const json nodes = Get(client, "/v1/nodes").value("nodes", json::array());
  bool dead = false;
  for (const auto& n : nodes) dead = dead || !n.value("online", true);
  if (dead) {
    std::fflush(stdout);
    ClusterUp(up);  // starts what is missing, waits for it to register
  }
  const json injections = Get(client, "/v1/injections").value("injections", json::array());
  for (const auto& n : nodes) {
    if (n.value("health", std::string()) != "isolated") continue;
    const std::string name = n.value("name", std::string());
    // The repair mends what was injected too: a slow link still in force would make the
    // readmitted node the next spare's fault.
    for (const auto& i : injections) {
      if (i.value("node", std::string()) == name && i.value("state", std::string()) == "active") {
        client.Send("POST", "/v1/injections/" + http::UrlEncode(i.value("id", std::string())) + "/heal", "{}");
      }
    }
    client.Send("POST", "/v1/nodes/" + http::UrlEncode(name) + "/readmit", json{{"as", "spare"}, {"reason", "repaired during the soak"}}.dump());
    std::printf("repaired %s: readmitted as a spare\n", name.c_str());
  }
}

// A node of the job's placement now, for a fault aimed at "any".
std::string AnyNode(const json& job, std::mt19937_64& rng) {
  const auto placement = job.value("placement", std::vector<std::string>{});
  if (placement.empty()) return "node-01";
  return placement[rng() % placement.size()];
}

}  // namespace

int ScenarioRun(const std::string& file, const ScenarioRunOptions& o) {
  // --- the scenario ---
  if (!fs::is_regular_file(file)) {
    std::fprintf(stderr, "bulwarkctl: cannot read scenario %s\n", file.c_str());
    return 2;
  }
  std::map<std::string, int> lines;
  Scenario scenario;
  try {
    json doc = YamlToJson(YAML::Load(Slurp(file)), &lines);
    scenario = controller::ParseScenario(doc);
    Substitute(scenario.job, {{"${BULWARK_BIN}", o.bin_dir},
                              {"${SCENARIO_DIR}", fs::absolute(file).parent_path().lexically_normal().string()}});
    controller::ParseJobSpec(scenario.job);
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "bulwarkctl: %s:%d: YAML syntax error: %s\n", file.c_str(), e.mark.line + 1, e.msg.c_str());
    return 2;
  } catch (const JsonError& e) {
    std::string path = e.path();
    if (!lines.count(path) && !scenario.name.empty()) path = "job." + path;  // the job spec, checked on its own
    std::fprintf(stderr, "bulwarkctl: %s:%d: %s\n", file.c_str(), lines.count(path) ? lines[path] : 0, e.what());
    return 2;
  }

  if (scenario.poisson) scenario.faults = controller::PoissonSchedule(*scenario.poisson);
  std::mt19937_64 rng(scenario.poisson ? scenario.poisson->seed : 1);
  controller::RunSeen seen;
  if (scenario.expect_digest && scenario.expect_finished) {
    std::printf("scenario %s: the uninterrupted run first, for its digest\n", scenario.name.c_str());
    std::fflush(stdout);
    std::string error;
    seen.reference_digest = ReferenceDigest(scenario.job, o.bin_dir, &error);
    if (!error.empty()) std::fprintf(stderr, "bulwarkctl: %s\n", error.c_str());
  }

  // --- the cluster ---
  ClusterUpOptions up;
  up.dir = o.dir;
  std::error_code ec;
  if (!up.dir.empty() && fs::exists(up.dir, ec) && !fs::is_empty(up.dir, ec)) {
    // An old cluster's database would bring its nodes' health and jobs into this run.
    std::fprintf(stderr, "bulwarkctl: a scenario needs a fresh cluster directory; %s is not empty\n", up.dir.c_str());
    return 2;
  }
  if (up.dir.empty()) {
    char tmpl[] = "/tmp/bulwark-scenario-XXXXXX";
    up.dir = ::mkdtemp(tmpl) ? tmpl : "bulwark-scenario";
  }
  up.bin_dir = o.bin_dir;
  const json& c = scenario.cluster;
  up.nodes = c.value("nodes", up.nodes);
  up.spares = c.value("spares", up.spares);
  up.nodes_per_rack = c.value("nodes_per_rack", up.nodes_per_rack);
  up.heartbeat_ms = c.value("heartbeat_ms", up.heartbeat_ms);
  up.missed_beats = c.value("missed_beats", up.missed_beats);
  up.restart_grace_ms = c.value("restart_grace_ms", up.restart_grace_ms);
  up.local_hang_ms = c.value("local_hang_ms", up.local_hang_ms);
  up.hang_ms = c.value("hang_ms", up.hang_ms);
  up.snapshot_k = c.value("snapshot_k", up.snapshot_k);
  up.snapshot_m = c.value("snapshot_m", up.snapshot_m);
  up.netns = c.value("netns", false);
  if (c.contains("db_size")) {
    auto bytes = c["db_size"].is_string() ? controller::ParseBytes(c["db_size"].get<std::string>()) : Result<uint64_t>(c["db_size"].get<uint64_t>());
    up.db_size_bytes = bytes.ok() ? bytes.value() : 0;
  }
  if (ClusterUp(up) != 0) {
    ClusterDown(up.dir);
    return 3;
  }
  std::string url, token_file;
  ReadClusterEndpoint(up.dir, &url, &token_file);
  auto token = ReadTokenFile(token_file);
  http::Client client(url, token.ok() ? token.value() : "", 10000);

  // --- the job and its faults ---
  seen.started_ms = WallMs();
  auto submitted = client.Send("POST", "/v1/jobs", scenario.job.dump());
  const json job_answer = submitted.ok() ? json::parse(submitted->body, nullptr, false) : json();
  const std::string id = job_answer.is_object() ? job_answer.value("id", std::string()) : std::string();
  const int64_t deadline =
      MonotonicMs() + std::max(scenario.timeout_ms, scenario.poisson ? scenario.poisson->duration_ms + 120000 : int64_t{0});
  json job = json::object();
  if (id.empty()) {
    std::fprintf(stderr, "bulwarkctl: the job was refused: %s\n", submitted.ok() ? submitted->body.c_str() : submitted.status().message().c_str());
  }
  int64_t last_mark = MonotonicMs(), last_repair = 0;
  for (const auto& fault : scenario.faults) {
    if (id.empty()) break;
    json progress = json::object();
    while (MonotonicMs() < deadline) {
      job = Get(client, "/v1/jobs/" + id);
      progress = Get(client, "/v1/jobs/" + id + "/snapshots");
      if (Ended(job)) break;
      if (scenario.poisson && MonotonicMs() - last_repair > 5000) {
        Repair(up, client);
        last_repair = MonotonicMs();
      }
      if (fault.at_step) {
        const json point = progress.value("recovery_point", json());
        if (point.is_number() && point.get<uint64_t>() >= *fault.at_step) break;
      } else if (!fault.during.empty()) {
        if (InPhase(job, fault.during)) break;
      } else if (MonotonicMs() - last_mark >= fault.after_ms) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (Ended(job) || MonotonicMs() >= deadline) break;  // the faults left are reported as not applied
    controller::FaultSeen f;
    f.injected_ms = WallMs();
    json body = fault.injection;
    const bool any = body.value("node", std::string()) == "any";
    if (any) body["node"] = AnyNode(job, rng);
    f.record = Inject(client, body, up.dir, o.bin_dir);
    // A drawn fault that found no rank (the job was between attempts) strikes again, at a
    // node of the placement, once the job runs: the failure process is the running job's.
    for (int tries = 0; any && tries < 60 && Text(f.record, "state") == "failed" && MonotonicMs() < deadline; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      job = Get(client, "/v1/jobs/" + id);
      if (Ended(job)) break;
      if (job.value("state", std::string()) != "running") continue;
      body["node"] = AnyNode(job, rng);
      f.injected_ms = WallMs();
      f.record = Inject(client, body, up.dir, o.bin_dir);
    }
    // A fault timed by a recovery phase may come before the relaunch's ranks exist: it
    // strikes again, at the same node, for as long as the phase lasts.
    for (int tries = 0; !fault.during.empty() && tries < 100 && Text(f.record, "state") == "failed" && MonotonicMs() < deadline; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      job = Get(client, "/v1/jobs/" + id);
      if (!InPhase(job, fault.during)) break;
      f.injected_ms = WallMs();
      f.record = Inject(client, body, up.dir, o.bin_dir);
    }
    if (!f.record.contains("node") && body.contains("node")) f.record["node"] = body["node"];
    const json held = progress.value("newest_held", progress.value("recovery_point", json()));
    if (held.is_number()) f.record["step_at_injection"] = held;
    std::printf("fault %zu: %s\n", seen.faults.size() + 1, f.record.dump().c_str());
    std::fflush(stdout);
    seen.faults.push_back(std::move(f));
    last_mark = MonotonicMs();
  }
  // A soak runs its whole duration, then its job (which would train on) is cancelled.
  const int64_t soak_end = scenario.poisson ? MonotonicMs() - (WallMs() - seen.started_ms) + scenario.poisson->duration_ms : 0;
  while (!id.empty() && MonotonicMs() < deadline) {
    job = Get(client, "/v1/jobs/" + id);
    if (Ended(job)) break;
    if (scenario.poisson && MonotonicMs() >= soak_end && seen.ended_ms == 0) {
      seen.ended_ms = WallMs();
      client.Send("DELETE", "/v1/jobs/" + id);
    }
    if (scenario.poisson && MonotonicMs() - last_repair > 5000) {
      Repair(up, client);
      last_repair = MonotonicMs();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (seen.ended_ms == 0) seen.ended_ms = WallMs();
  seen.job = job;
  seen.incidents = Get(client, "/v1/incidents").value("incidents", json::array());

  const controller::RunResult result = controller::JudgeRun(scenario, seen);
  PrintResult(scenario, result);
  json out = result.ToJson();
  out["scenario"] = scenario.name;
  out["file"] = file;
  out["job"] = id;
  out["cluster_dir"] = up.dir;
  if (!o.out.empty()) {
    std::ofstream(o.out) << out.dump(2) << "\n";
  }
  if (!o.keep) ClusterDown(up.dir);
  return result.passed() ? 0 : 1;
}

}  // namespace bulwark::ctl
