#include "controller/metrics.h"

#include <prometheus/text_serializer.h>

namespace bulwark::controller {
namespace {

using nlohmann::json;

std::string Text(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// Adds to a counter what a stored total grew by since the last render.
void CountUp(prometheus::Family<prometheus::Counter>& family, std::map<std::string, double>& counted,
             const char* label, const std::map<std::string, double>& totals) {
  for (const auto& [value, total] : totals) {
    double& seen = counted[value];
    if (total > seen) family.Add({{label, value}}).Increment(total - seen);
    seen = total;
  }
}

}  // namespace

ControllerMetrics::ControllerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("bulwark_http_requests_total")
                    .Help("HTTP requests answered, by route and status code")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("bulwark_http_request_duration_seconds")
                   .Help("Time to handle a request (a long-poll's wait excluded)")
                   .Register(*registry_)),
      nodes_(prometheus::BuildGauge().Name("bulwark_nodes").Help("Nodes by health").Register(*registry_)),
      jobs_(prometheus::BuildGauge().Name("bulwark_jobs").Help("Jobs by state").Register(*registry_)),
      nodes_online_(prometheus::BuildGauge()
                        .Name("bulwark_nodes_online")
                        .Help("Nodes whose agent sent a heartbeat within the loss limit")
                        .Register(*registry_)
                        .Add({})),
      connections_(prometheus::BuildGauge()
                       .Name("bulwark_http_open_connections")
                       .Help("Open HTTP connections")
                       .Register(*registry_)
                       .Add({})),
      last_event_id_(prometheus::BuildGauge()
                         .Name("bulwark_last_event_id")
                         .Help("Id of the newest event in the log")
                         .Register(*registry_)
                         .Add({})),
      agent_messages_(prometheus::BuildCounter()
                          .Name("bulwark_agent_messages_total")
                          .Help("Messages received from agents, by kind")
                          .Register(*registry_)),
      incidents_(prometheus::BuildGauge()
                     .Name("bulwark_incidents")
                     .Help("Stored incidents by verdict and state")
                     .Register(*registry_)),
      incidents_opened_(prometheus::BuildCounter()
                            .Name("bulwark_incidents_opened_total")
                            .Help("Incidents opened, by verdict (counted from the store: survives a restart)")
                            .Register(*registry_)),
      recoveries_(prometheus::BuildCounter()
                      .Name("bulwark_recoveries_total")
                      .Help("Recoveries finished, by trigger (verdict, exit, operator, drain)")
                      .Register(*registry_)),
      recovery_phases_(prometheus::BuildHistogram()
                           .Name("bulwark_recovery_phase_duration_seconds")
                           .Help("Time to repair of finished recoveries by phase: detect, isolate, relaunch, restore, "
                                 "first_step, total")
                           .Register(*registry_)),
      recovery_point_(prometheus::BuildGauge()
                          .Name("bulwark_snapshot_recovery_point_step")
                          .Help("The newest step every rank of the job has protected in peers' memory")
                          .Register(*registry_)),
      protection_lag_(prometheus::BuildGauge()
                          .Name("bulwark_snapshot_protection_lag_steps")
                          .Help("Steps every rank holds locally that are not yet protected (newest held - recovery point)")
                          .Register(*registry_)),
      job_restarts_(prometheus::BuildGauge()
                        .Name("bulwark_job_restarts")
                        .Help("Times the job was relaunched after a fault")
                        .Register(*registry_)) {}

void ControllerMetrics::ObserveRequest(const std::string& route, int status, double seconds) {
  auto key = std::make_pair(route, status);
  auto it = request_counters_.find(key);
  if (it == request_counters_.end()) {
    it = request_counters_.emplace(key, &requests_.Add({{"route", route}, {"code", std::to_string(status)}})).first;
  }
  it->second->Increment();
  if (seconds < 0) return;  // a long-poll: its time is mostly waiting
  auto h = request_latency_.find(route);
  if (h == request_latency_.end()) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                      0.005,  0.01,    0.025,  0.05,  0.1,
                                                                      0.25,   0.5,     1.0};
    h = request_latency_.emplace(route, &latency_.Add({{"route", route}}, kBuckets)).first;
  }
  h->second->Observe(seconds);
}

std::string ControllerMetrics::Render(const Cluster& cluster, const SnapshotCatalog& snapshots, int64_t now_mono_ms,
                                      size_t open_connections) {
  for (const auto& [health, n] : cluster.CountByHealth()) nodes_.Add({{"health", health}}).Set(static_cast<double>(n));
  for (const auto& [state, n] : cluster.CountJobsByState()) jobs_.Add({{"state", state}}).Set(static_cast<double>(n));
  nodes_online_.Set(static_cast<double>(cluster.online_nodes(now_mono_ms)));
  connections_.Set(static_cast<double>(open_connections));
  last_event_id_.Set(static_cast<double>(cluster.last_event_id()));
  const auto& c = cluster.counters();
  for (const auto& [kind, total] : std::map<std::string, uint64_t>{{"register", c.registrations},
                                                                   {"heartbeat", c.heartbeats},
                                                                   {"telemetry_batch", c.telemetry_batches},
                                                                   {"telemetry_rank_record", c.telemetry_rank_records},
                                                                   {"event", c.agent_events}}) {
    uint64_t& seen = reported_[kind];
    agent_messages_.Add({{"kind", kind}}).Increment(static_cast<double>(total - seen));
    seen = total;
  }
  RenderIncidents(cluster.Incidents());
  RenderJobs(cluster.Jobs(), snapshots);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void ControllerMetrics::RenderIncidents(const json& incidents) {
  std::map<std::pair<std::string, std::string>, double> by_state;
  std::map<std::string, double> opened;
  for (const auto& inc : incidents) {
    const std::string verdict = Text(inc, "verdict"), state = Text(inc, "state");
    by_state[{verdict, state}] += 1;
    opened[verdict] += 1;
  }
  // Every (verdict, state) seen once stays, at 0 when none is left in it.
  for (auto& m : incident_gauges_) m.second->Set(0);
  for (const auto& [key, n] : by_state) {
    auto it = incident_gauges_.find(key);
    if (it == incident_gauges_.end()) {
      it = incident_gauges_.emplace(key, &incidents_.Add({{"verdict", key.first}, {"state", key.second}})).first;
    }
    it->second->Set(n);
  }
  CountUp(incidents_opened_, incidents_counted_, "verdict", opened);
}

void ControllerMetrics::RenderJobs(const json& jobs, const SnapshotCatalog& snapshots) {
  static const prometheus::Histogram::BucketBoundaries kPhaseBuckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  std::map<std::string, double> recoveries;
  for (const auto& job : jobs) {
    const std::string id = Text(job, "id");
    const std::string state = Text(job, "state");
    const bool ended = state == "succeeded" || state == "failed" || state == "cancelled";
    for (const auto& rec : job.value("recoveries", json::array())) {
      recoveries[Text(rec, "trigger")] += 1;
      const int64_t detected = rec.value("detected_ms", int64_t{0});
      if (!recoveries_observed_.insert({id, detected}).second) continue;
      const json mttr = rec.value("mttr_ms", json::object());
      for (const auto& [phase, ms] : mttr.items()) {
        if (ms.is_number() && ms.get<double>() >= 0) {
          recovery_phases_.Add({{"phase", phase}}, kPhaseBuckets).Observe(ms.get<double>() / 1000);
        }
      }
    }
    // Per-job gauges only while the job lives: the label set stays bounded by running jobs.
    const prometheus::Labels labels = {{"job", id}};
    if (ended) {
      for (auto* family : {&job_restarts_, &recovery_point_, &protection_lag_}) {
        if (family->Has(labels)) family->Remove(&family->Add(labels));
      }
      continue;
    }
    job_restarts_.Add(labels).Set(job.value("restarts", 0));
    if (const auto point = snapshots.RecoveryPoint(id)) {
      recovery_point_.Add(labels).Set(static_cast<double>(*point));
      const auto held = snapshots.NewestHeld(id);
      protection_lag_.Add(labels).Set(held && *held > *point ? static_cast<double>(*held - *point) : 0);
    }
  }
  CountUp(recoveries_, recoveries_counted_, "trigger", recoveries);
}

}  // namespace bulwark::controller
