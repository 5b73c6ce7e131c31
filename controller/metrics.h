// The controller's Prometheus metrics (prometheus-cpp core; served by our own HTTP server).
// Names follow Prometheus conventions: bulwark_ prefix, base units, _total for counters.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "controller/cluster.h"
#include "controller/snapshot_catalog.h"

namespace bulwark::controller {

class ControllerMetrics {
 public:
  ControllerMetrics();

  // One request done: its route template ("/v1/nodes/{node}"), status and handling time
  // (negative: not timed).
  void ObserveRequest(const std::string& route, int status, double seconds);
  // Refreshes the gauges from the cluster and the snapshot catalog and renders the text
  // exposition format.
  std::string Render(const Cluster& cluster, const SnapshotCatalog& snapshots, int64_t now_mono_ms,
                     size_t open_connections);

 private:
  void RenderIncidents(const nlohmann::json& incidents);
  void RenderJobs(const nlohmann::json& jobs, const SnapshotCatalog& snapshots);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& nodes_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Gauge& nodes_online_;
  prometheus::Gauge& connections_;
  prometheus::Gauge& last_event_id_;
  prometheus::Family<prometheus::Counter>& agent_messages_;
  std::map<std::pair<std::string, int>, prometheus::Counter*> request_counters_;
  std::map<std::string, prometheus::Histogram*> request_latency_;
  std::map<std::string, uint64_t> reported_;  // agent message counts already added
  // Incidents and recoveries, counted from what the store holds (so they survive a restart).
  prometheus::Family<prometheus::Gauge>& incidents_;
  prometheus::Family<prometheus::Counter>& incidents_opened_;
  prometheus::Family<prometheus::Counter>& recoveries_;
  prometheus::Family<prometheus::Histogram>& recovery_phases_;
  std::map<std::string, double> incidents_counted_, recoveries_counted_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> incident_gauges_;
  std::set<std::pair<std::string, int64_t>> recoveries_observed_;  // (job, detected_ms)
  prometheus::Family<prometheus::Gauge>& recovery_point_;
  prometheus::Family<prometheus::Gauge>& protection_lag_;
  prometheus::Family<prometheus::Gauge>& job_restarts_;
};

}  // namespace bulwark::controller
