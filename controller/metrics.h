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
#include <string>
#include <utility>

#include "controller/cluster.h"

namespace bulwark::controller {

class ControllerMetrics {
 public:
  ControllerMetrics();

  // One request done: its route template ("/v1/nodes/{node}"), status and handling time
  // (negative: not timed).
  void ObserveRequest(const std::string& route, int status, double seconds);
  // Refreshes the gauges from the cluster and renders the text exposition format.
  std::string Render(const Cluster& cluster, int64_t now_mono_ms, size_t open_connections);

 private:
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
};

}  // namespace bulwark::controller
