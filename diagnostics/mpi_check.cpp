#include "diagnostics/mpi_check.h"

#include <nlohmann/json.hpp>

#include "diagnostics/report_line.h"

namespace bulwark::diagnostics {

double MpiCheckInput(int rank, size_t i) { return static_cast<double>(rank + 1) * static_cast<double>(i % 1024 + 1); }

double MpiCheckExpectedSum(int ranks, size_t i) {
  return static_cast<double>(ranks) * (ranks + 1) / 2 * static_cast<double>(i % 1024 + 1);
}

Result<MpiCheckReport> ParseMpiCheckReport(const std::string& output) {
  const auto line = LastJsonLine(output);
  if (!line) return Status::Error("bulwark-mpi-check printed no report; its output ends: " + Tail(output));
  const auto j = nlohmann::json::parse(*line, nullptr, false);
  if (!j.is_object()) return Status::Error("malformed report line from bulwark-mpi-check: " + Tail(*line));
  MpiCheckReport r;
  try {
    r.ranks = j.at("ranks").get<int>();
    r.error = j.value("error", std::string());
    if (r.error.empty()) {
      r.latency_us = j.at("latency_us").get<double>();
      r.mbps = j.at("mbps").get<double>();
      r.worst_peer = j.at("worst_peer").get<std::string>();
      r.allreduce_us = j.at("allreduce_us").get<double>();
      r.allreduce_ok = j.at("allreduce_ok").get<bool>();
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Error("report from bulwark-mpi-check lacks a field (" + std::string(e.what()) + "): " + Tail(*line));
  }
  return r;
}

}  // namespace bulwark::diagnostics
