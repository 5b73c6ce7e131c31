#include "controller/metrics.h"

#include <prometheus/text_serializer.h>

namespace bulwark::controller {

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

std::string ControllerMetrics::Render(const Cluster& cluster, int64_t now_mono_ms, size_t open_connections) {
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
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace bulwark::controller
