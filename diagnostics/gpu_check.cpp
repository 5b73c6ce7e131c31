#include "diagnostics/gpu_check.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "diagnostics/report_line.h"

namespace bulwark::diagnostics {

std::string ToJsonLine(const CheckReport& r) {
  nlohmann::json j = {{"ok", r.ok}, {"detail", r.detail}};
  if (r.skipped) j["skipped"] = true;
  if (!r.unit.empty()) j["value"] = r.value, j["unit"] = r.unit;
  return j.dump();
}

Result<CheckReport> ParseCheckReport(const std::string& output) {
  const auto line = LastJsonLine(output);
  if (!line) return Status::Error("the check printed no report; its output ends: " + Tail(output));
  const auto j = nlohmann::json::parse(*line, nullptr, false);
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean() || !j.contains("detail") || !j["detail"].is_string()) {
    return Status::Error("malformed check report: " + Tail(*line));
  }
  CheckReport r;
  r.ok = j["ok"].get<bool>();
  r.skipped = j.value("skipped", false);
  r.detail = j["detail"].get<std::string>();
  if (j.contains("value") && j["value"].is_number()) r.value = j["value"].get<double>();
  if (j.contains("unit") && j["unit"].is_string()) r.unit = j["unit"].get<std::string>();
  return r;
}

CheckReport JudgeGpus(int expected, const std::vector<GpuDeviceResult>& devices) {
  CheckReport r;
  const int seen = static_cast<int>(devices.size());
  if (seen == 0 && expected == 0) {
    r.ok = r.skipped = true;
    r.detail = "skipped: no GPUs here";
    return r;
  }
  std::string failures, busy;
  double slowest = -1;
  for (const auto& d : devices) {
    if (d.busy) {
      busy += (busy.empty() ? "" : ", ") + std::to_string(d.index);
      continue;
    }
    if (!d.ok) failures += (failures.empty() ? "" : "; ") + ("GPU " + std::to_string(d.index) + " (" + d.name + "): " + d.error);
    if (d.ok && (slowest < 0 || d.h2d_gbps < slowest)) slowest = d.h2d_gbps;
  }
  char text[160];
  std::snprintf(text, sizeof(text), "%d GPU%s, memory round trips right, slowest host-to-device copy %.1f GB/s", seen,
                seen == 1 ? "" : "s", std::max(slowest, 0.0));
  if (seen < expected) {
    r.detail = "sees " + std::to_string(seen) + " of the " + std::to_string(expected) + " GPUs this node should have";
    if (!failures.empty()) r.detail += "; " + failures;
    return r;
  }
  if (!failures.empty()) {
    r.detail = failures;
    return r;
  }
  r.ok = true;
  r.detail = slowest >= 0 ? text : std::to_string(seen) + " GPU" + (seen == 1 ? "" : "s") + " present";
  if (!busy.empty()) r.detail += "; busy (memory held by a job), not checked: GPU " + busy;
  if (slowest >= 0) {  // with every GPU busy there is no rate to compare against the baseline
    r.value = slowest;
    r.unit = "GB/s";
  }
  return r;
}

CheckReport NoDriver(int expected, const std::string& why) {
  CheckReport r;
  if (expected == 0) {
    r.ok = r.skipped = true;
    r.detail = "skipped: no GPUs expected here (" + why + ")";
  } else {
    r.detail = "this node should have " + std::to_string(expected) + " GPUs but " + why;
  }
  return r;
}

}  // namespace bulwark::diagnostics
