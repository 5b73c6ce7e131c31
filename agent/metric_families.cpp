#include "agent/metric_families.h"

#include <prometheus/text_serializer.h>

namespace bulwark::agent {

prometheus::MetricFamily EmptyFamily(const std::string& name, const std::string& help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

void AddSample(prometheus::MetricFamily& family, double value, MetricLabels labels) {
  prometheus::ClientMetric sample;
  sample.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    sample.counter.value = value;
  } else {
    sample.gauge.value = value;
  }
  family.metric.push_back(std::move(sample));
}

prometheus::MetricFamily OneSample(const std::string& name, const std::string& help, prometheus::MetricType type,
                                   double value, MetricLabels labels) {
  prometheus::MetricFamily family = EmptyFamily(name, help, type);
  AddSample(family, value, std::move(labels));
  return family;
}

std::string RenderMetrics(const MetricFamilies& families) { return prometheus::TextSerializer().Serialize(families); }

}  // namespace bulwark::agent
