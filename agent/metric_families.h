// Prometheus families built from values the agent's parts already count (prometheus-cpp's
// data model, rendered by its text serializer). A counter read from a running total needs
// no registry of its own: the family is made at scrape time with the value as it stands.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace bulwark::agent {

using MetricFamilies = std::vector<prometheus::MetricFamily>;
using MetricLabels = std::vector<prometheus::ClientMetric::Label>;

// A family with one sample; `value` is a counter's total or a gauge's reading.
prometheus::MetricFamily OneSample(const std::string& name, const std::string& help, prometheus::MetricType type,
                                   double value, MetricLabels labels = {});
// An empty family, for AddSample.
prometheus::MetricFamily EmptyFamily(const std::string& name, const std::string& help, prometheus::MetricType type);
void AddSample(prometheus::MetricFamily& family, double value, MetricLabels labels);

// Renders families in the text exposition format (version 0.0.4).
std::string RenderMetrics(const MetricFamilies& families);

}  // namespace bulwark::agent
