#include "controller/scenario.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "common/strict_json.h"
#include "controller/injection.h"
#include "controller/recovery.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

// How long after a fault an incident or recovery naming its node still counts as its own.
constexpr int64_t kMatchWindowMs = 30000;

// `cluster up`'s options, spelled with underscores.
const char* const kClusterKeys[] = {"nodes", "spares", "nodes_per_rack", "heartbeat_ms", "missed_beats", "restart_grace_ms",
                                    "local_hang_ms", "hang_ms", "snapshot_k", "snapshot_m", "db_size"};

ScenarioFault ParseFault(StrictJson& in) {
  ScenarioFault f;
  const int triggers = int(in.Has("at_step")) + int(in.Has("after")) + int(in.Has("during"));
  if (triggers != 1) {
    in.Fail("at_step", "give exactly one of at_step (a protected step), after (a duration) and during (a recovery phase)");
  }
  if (in.Has("at_step")) f.at_step = static_cast<uint64_t>(in.RequiredInt("at_step", 0, INT64_MAX));
  if (in.Has("during")) {
    f.during = in.RequiredString("during");
    try {
      RecoveryPhaseFromName(f.during);
    } catch (const std::invalid_argument&) {
      in.Fail("during", "must be a recovery phase: fence, stop, spare, relaunch or restore, not '" + f.during + "'");
    }
  }
  const bool has_after = in.Has("after");
  if (has_after) {
    auto ms = ParseDurationMs(in.RequiredString("after"));
    if (!ms.ok()) in.Fail("after", ms.status().message());
    f.after_ms = ms.value();
  }
  StrictJson expect = in.Object("expect");
  f.verdict = expect.String("verdict", "");
  f.culprit = expect.String("culprit", "");
  f.recovery = expect.Bool("recovery", true);  // a fault with no word on it must be recovered from
  if (expect.Has("steps_lost")) f.max_steps_lost = expect.Int("steps_lost", 0, 0, INT64_MAX);
  expect.Finish();
  // The rest is the injection itself, checked as the controller will check it.
  json injection = json::object();
  for (const char* key : {"kind", "node", "job", "rank"}) {
    if (in.Has(key)) injection[key] = in.Raw(key);
  }
  if (in.Has("for")) injection["duration"] = in.Raw("for");
  for (const char* key : {"percent", "leave", "delay", "rate", "loss", "period", "down"}) {
    if (in.Has(key)) injection[key] = in.Raw(key);
  }
  auto spec = ParseInjection(injection);
  if (!spec.ok()) in.Fail(injection.contains("kind") ? "kind" : "", spec.status().message());
  f.injection = std::move(injection);
  in.Finish();
  return f;
}

std::string Text(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
int64_t Number(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<int64_t>() : 0;
}

}  // namespace

Scenario ParseScenario(const json& doc) {
  if (!doc.is_object()) throw JsonError("a scenario is a mapping: name, cluster, job, faults, expect");
  StrictJson in(doc);
  Scenario s;
  s.name = in.RequiredString("name");
  StrictJson cluster = in.Object("cluster");
  if (cluster.Has("netns")) {
    if (!cluster.Raw("netns").is_boolean()) cluster.Fail("netns", "must be true or false");
    s.cluster["netns"] = cluster.Raw("netns");
  }
  for (const char* key : kClusterKeys) {
    if (!cluster.Has(key)) continue;
    const json v = cluster.Raw(key);
    if (!(v.is_number_integer() || (std::string(key) == "db_size" && v.is_string()))) cluster.Fail(key, "must be a whole number");
    s.cluster[key] = v;
  }
  cluster.Finish();
  s.job = in.Raw("job");
  if (!s.job.is_object()) in.Fail("job", "is required: a job spec as `bulwarkctl job submit` takes it");
  for (auto& f : in.ObjectList("faults")) s.faults.push_back(ParseFault(f));
  if (in.Has("poisson")) {
    if (!s.faults.empty()) in.Fail("poisson", "give faults or poisson, not both");
    StrictJson p = in.Object("poisson");
    PoissonFaults poisson;
    for (auto [key, out] : {std::pair<const char*, int64_t*>{"mean_interval", &poisson.mean_interval_ms}, {"duration", &poisson.duration_ms}}) {
      auto ms = ParseDurationMs(p.RequiredString(key));
      if (!ms.ok() || ms.value() <= 0) p.Fail(key, ms.ok() ? "must be more than 0" : ms.status().message());
      *out = ms.value();
    }
    poisson.seed = static_cast<uint64_t>(p.Int("seed", 1, 0, INT64_MAX));
    const json mix = p.Raw("mix");
    if (!mix.is_object() || mix.empty()) p.Fail("mix", "is required: {kind: weight, ...}");
    for (const auto& [kind, weight] : mix.items()) {
      const InjectionKind* k = FindInjectionKind(kind);
      if (!k || kind == "fill-disk") p.Fail("mix." + kind, "is not a kind a soak can draw");
      if (!weight.is_number() || weight.get<double>() <= 0) p.Fail("mix." + kind, "must be a weight above 0");
      poisson.mix.emplace_back(kind, weight.get<double>());
    }
    p.Finish();
    s.poisson = poisson;
  }
  StrictJson expect = in.Object("expect");
  s.expect_finished = expect.Bool("finished", true);
  s.expect_ettr = expect.Number("ettr", 0, 0, 1);
  const std::string digest = expect.String("digest", "uninterrupted");
  if (digest != "uninterrupted" && digest != "any") expect.Fail("digest", "must be uninterrupted or any");
  s.expect_digest = digest == "uninterrupted" && s.expect_finished;
  expect.Finish();
  if (in.Has("timeout")) {
    auto ms = ParseDurationMs(in.RequiredString("timeout"));
    if (!ms.ok()) in.Fail("timeout", ms.status().message());
    s.timeout_ms = ms.value();
  }
  in.Finish();
  return s;
}

std::vector<ScenarioFault> PoissonSchedule(const PoissonFaults& poisson) {
  std::mt19937_64 rng(poisson.seed);
  std::exponential_distribution<double> gap(1.0 / static_cast<double>(poisson.mean_interval_ms));
  std::vector<double> weights;
  for (const auto& [kind, weight] : poisson.mix) weights.push_back(weight);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::vector<ScenarioFault> faults;
  for (int64_t t = 0;;) {
    const int64_t after = std::max<int64_t>(1, static_cast<int64_t>(gap(rng)));
    if (t + after >= poisson.duration_ms || poisson.mix.empty()) break;
    t += after;
    ScenarioFault f;
    f.after_ms = after;
    f.recovery.reset();  // judged by the run's ETTR, not fault by fault
    const std::string& kind = poisson.mix[pick(rng)].first;
    f.injection = {{"kind", kind}};
    if (kind != "kill-controller") f.injection["node"] = "any";
    if (kind == "hang-rank") f.injection["duration"] = 30000;
    if (kind == "slow-rank") {
      f.injection["duration"] = 60000;
      f.injection["percent"] = 300;
    }
    if (kind == "kill-controller") f.injection["duration"] = 2000;
    // Link faults (a cluster with netns): long enough to be felt, short of an eviction.
    if (kind == "slow-link") f.injection.update({{"duration", 60000}, {"delay", "20ms"}});
    if (kind == "lossy-link") f.injection.update({{"duration", 60000}, {"loss", 5}});
    if (kind == "flap-link") f.injection.update({{"duration", 30000}, {"period", "10s"}, {"down", "1s"}});
    if (kind == "partition-node") f.injection["duration"] = 20000;
    faults.push_back(std::move(f));
  }
  return faults;
}

bool RunResult::passed() const {
  if (!problems.empty()) return false;
  for (const auto& f : faults) {
    if (!f.problems.empty()) return false;
  }
  return true;
}

RunResult JudgeRun(const Scenario& scenario, const RunSeen& seen) {
  RunResult out;
  const json& job = seen.job;
  const json recoveries = job.is_object() && job.contains("recoveries") && job["recoveries"].is_array() ? job["recoveries"] : json::array();
  std::set<size_t> used_incidents, used_recoveries;
  int64_t total_repair_ms = 0, total_lost_steps = 0;
  for (size_t i = 0; i < scenario.faults.size(); ++i) {
    const ScenarioFault& want = scenario.faults[i];
    FaultResult r;
    r.kind = Text(want.injection, "kind");
    const FaultSeen seen_fault = i < seen.faults.size() ? seen.faults[i] : FaultSeen{};
    r.node = Text(want.injection, "node");
    if (r.node == "any") r.node = Text(seen_fault.record, "node");  // where the runner aimed it
    const std::string state = Text(seen_fault.record, "state");
    r.applied = state == "active" || state == "done" || state == "healed";
    if (!r.applied) {
      const std::string why = Text(seen_fault.record, "error");
      r.problems.push_back("not applied" + (why.empty() ? std::string() : ": " + why));
      out.faults.push_back(std::move(r));
      continue;
    }
    const int64_t at = seen_fault.injected_ms;
    const int64_t next = i + 1 < seen.faults.size() && seen.faults[i + 1].injected_ms > at ? seen.faults[i + 1].injected_ms : INT64_MAX;
    // The first incident opened after it (before the next fault), preferring one that
    // names its node.
    // Its incident: the first after it that names its node (within 30 s, or before the next
    // fault if that is later: faults moments apart may be judged in the other order), else
    // the first after it, before the next fault and within 60 s. Never one minutes later:
    // that one answers another fault.
    const int64_t horizon = std::max(next, at + kMatchWindowMs);
    const int64_t unnamed_end = std::min(next, at + 2 * kMatchWindowMs);  // for ones that name no node
    const auto names = [&](const json& j, const char* key) {
      const auto nodes = j.is_object() && j.contains(key) && j[key].is_array() ? j[key].get<std::vector<std::string>>() : std::vector<std::string>{};
      return !r.node.empty() && std::find(nodes.begin(), nodes.end(), r.node) != nodes.end();
    };
    std::optional<size_t> first, first_naming;
    for (size_t k = 0; k < seen.incidents.size(); ++k) {
      const json& inc = seen.incidents[k];
      const int64_t opened = Number(inc, "opened_ms");
      if (used_incidents.count(k) || opened < at) continue;
      if (!first_naming && opened < horizon && names(inc, "nodes")) first_naming = k;
      if (!first && opened < unnamed_end) first = k;
    }
    std::optional<size_t> incident = first_naming ? first_naming : first;
    if (incident) {
      used_incidents.insert(*incident);
      const json& inc = seen.incidents[*incident];
      r.verdict = Text(inc, "verdict");
      r.blamed = inc.value("nodes", std::vector<std::string>{});
      r.detect_ms = Number(inc, "opened_ms") - at;
    }
    // Its recovery: the first after it that names its node as a culprit (one recovery may
    // answer several faults), else the first after it, in the same windows.
    std::optional<size_t> recovery;
    for (size_t k = 0; k < recoveries.size() && !recovery; ++k) {
      const int64_t detected = Number(recoveries[k], "detected_ms");
      if (detected >= at && detected < horizon && names(recoveries[k], "culprits")) recovery = k;
    }
    for (size_t k = 0; k < recoveries.size() && !recovery; ++k) {
      const int64_t detected = Number(recoveries[k], "detected_ms");
      if (!used_recoveries.count(k) && detected >= at && detected < unnamed_end) recovery = k;
    }
    if (recovery) {
      const json& rec = recoveries[*recovery];
      const int64_t detected = Number(rec, "detected_ms");
      // An incident that does not name its node and opened after this fault's recovery was
      // already under way (an imbalance while the relaunch warms up) did not detect it:
      // the recovery that names its node did. Give that incident back to a later fault.
      if (incident && names(rec, "culprits") && !names(seen.incidents[*incident], "nodes") &&
          Number(seen.incidents[*incident], "opened_ms") > detected) {
        used_incidents.erase(*incident);
        incident.reset();
        r.verdict.clear();
      }
      // No incident (a rank that died before its hook registered: only mpirun saw it): the
      // recovery's culprits are who was blamed, and it was detected when the recovery began.
      if (!incident) {
        r.blamed = rec.value("culprits", std::vector<std::string>{});
        if (detected >= at) r.detect_ms = detected - at;
      }
      r.mttr_ms = rec.contains("mttr_ms") && rec["mttr_ms"].is_object() ? Number(rec["mttr_ms"], "total") : 0;
      // The controller's MTTR starts when it saw the fault; the job lost time from the
      // moment it was injected to its first step after the restore.
      r.repair_ms = r.mttr_ms;
      for (const auto& m : rec.value("marks", json::array())) {
        if (Text(m, "what") == "first_step" && Number(m, "time_ms") > at) r.repair_ms = Number(m, "time_ms") - at;
      }
      // What the ranks restored, where they said (0: nothing, they started over), counts
      // over what the controller asked them to restore.
      const char* restored = rec.contains("restored_step") && rec["restored_step"].is_number() ? "restored_step" : "restore_step";
      if (rec.contains(restored) && rec[restored].is_number()) {
        if (std::string(restored) == "restored_step") r.restored_step = rec[restored].get<int64_t>();
        if (seen_fault.record.contains("step_at_injection")) {
          r.steps_lost = std::max<int64_t>(0, Number(seen_fault.record, "step_at_injection") - rec[restored].get<int64_t>());
        }
      }
      if (used_recoveries.insert(*recovery).second) {  // a shared recovery's time counts once
        total_repair_ms += r.repair_ms.value_or(0);
        total_lost_steps += r.steps_lost.value_or(0);
      }
    }
    if (!want.verdict.empty() && r.verdict != want.verdict) {
      r.problems.push_back("verdict " + want.verdict + " expected, " + (r.verdict.empty() ? "none was reached" : "got " + r.verdict));
    }
    if (!want.culprit.empty() && std::find(r.blamed.begin(), r.blamed.end(), want.culprit) == r.blamed.end()) {
      r.problems.push_back("culprit " + want.culprit + " expected, " + (r.blamed.empty() ? "none was blamed" : "blamed " + json(r.blamed).dump()));
    }
    if (want.max_steps_lost && r.mttr_ms && r.steps_lost.value_or(INT64_MAX) > *want.max_steps_lost) {
      r.problems.push_back("at most " + std::to_string(*want.max_steps_lost) + " steps lost expected, " +
                           (r.steps_lost ? std::to_string(*r.steps_lost) + " were" : std::string("the steps lost are unknown")));
    }
    if (want.recovery == true && !r.mttr_ms) r.problems.push_back("no recovery followed");
    if (want.recovery == false && r.mttr_ms) r.problems.push_back("a recovery followed, none was expected");
    out.faults.push_back(std::move(r));
  }

  const std::string job_state = Text(job, "state");
  if (scenario.expect_finished && job_state != "succeeded") {
    const bool ended = job_state == "failed" || job_state == "cancelled";
    out.problems.push_back(ended ? "the job ended " + job_state + ", not succeeded"
                                 : "the job had not ended when the scenario's time ran out (" +
                                       (job_state.empty() ? std::string("no state") : job_state) + ")");
  }
  const json last = job.is_object() && job.contains("result") && job["result"].is_object() && job["result"].contains("last")
                        ? job["result"]["last"] : json::object();
  if (scenario.expect_finished && scenario.expect_digest) {
    const std::string digest = Text(last, "digest");
    if (seen.reference_digest.empty()) {
      out.problems.push_back("no uninterrupted run to compare the digest with");
    } else if (digest != seen.reference_digest) {
      out.problems.push_back("final digest " + (digest.empty() ? std::string("missing") : digest) + ", the uninterrupted run's is " + seen.reference_digest);
    }
  }
  // ETTR: the share of the wall time that made progress. Steps run at the pace of the
  // steps that were not lost; a repair (injection to the first step after it) and the steps
  // it made the job redo were not progress.
  out.wall_s = std::max<int64_t>(0, seen.ended_ms - seen.started_ms) / 1000.0;
  const int64_t steps = Number(last, "step");
  const double step_s = steps + total_lost_steps > 0 ? std::max(0.0, out.wall_s - total_repair_ms / 1000.0) / double(steps + total_lost_steps) : 0;
  out.lost_s = total_repair_ms / 1000.0 + total_lost_steps * step_s;
  out.ettr = out.wall_s > 0 ? std::max(0.0, 1.0 - out.lost_s / out.wall_s) : 0;
  if (scenario.expect_ettr > 0 && out.ettr < scenario.expect_ettr) {
    char text[96];
    std::snprintf(text, sizeof text, "ETTR %.1f%%, below the %.1f%% expected", 100 * out.ettr, 100 * scenario.expect_ettr);
    out.problems.push_back(text);
  }
  return out;
}

json RunResult::ToJson() const {
  json faults_json = json::array();
  for (const auto& f : faults) {
    json j = {{"kind", f.kind}, {"node", f.node}, {"applied", f.applied}, {"verdict", f.verdict}, {"blamed", f.blamed},
              {"problems", f.problems}};
    j["detect_ms"] = f.detect_ms ? json(*f.detect_ms) : json();
    j["mttr_ms"] = f.mttr_ms ? json(*f.mttr_ms) : json();
    j["repair_ms"] = f.repair_ms ? json(*f.repair_ms) : json();
    j["restored_step"] = f.restored_step ? json(*f.restored_step) : json();
    j["steps_lost"] = f.steps_lost ? json(*f.steps_lost) : json();
    faults_json.push_back(std::move(j));
  }
  return {{"passed", passed()}, {"faults", faults_json}, {"problems", problems},
          {"wall_s", wall_s},   {"lost_s", lost_s},      {"ettr", ettr}};
}

}  // namespace bulwark::controller
