#include "controller/ctl_inject.h"

#include <vector>

#include "controller/ctl_table.h"

namespace bulwark::ctl {
namespace {

using nlohmann::json;

std::string Target(const json& i) {
  std::string out = i.value("node", std::string("the controller"));
  const json result = i.value("result", json::object());
  const json rank = result.contains("rank") ? result["rank"] : i.value("rank", json());
  const std::string job = result.value("job", i.value("job", std::string()));
  if (!rank.is_null()) out += " (rank " + rank.dump() + (job.empty() ? "" : " of " + job) + ")";
  else if (!job.empty()) out += " (" + job + ")";
  return out;
}

std::string Duration(const json& i) {
  if (!i.contains("duration_ms")) return "-";
  const int64_t ms = i["duration_ms"].get<int64_t>();
  if (ms == 0) return "until healed";
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

std::string Outcome(const json& i) {
  if (i.contains("error")) return i["error"].get<std::string>();
  if (i.contains("healed_by")) return "healed by " + i["healed_by"].get<std::string>();
  const json result = i.value("result", json::object());
  for (const char* key : {"killed", "pids", "file", "interface"}) {
    if (result.contains(key)) return std::string(key) + " " + (result[key].is_string() ? result[key].get<std::string>() : result[key].dump());
  }
  return "";
}

}  // namespace

Result<json> InjectionRequest(const std::string& kind, const std::map<std::string, std::string>& flags) {
  json body = {{"kind", kind}};
  for (const auto& [flag, value] : flags) {
    if (flag == "node" || flag == "job" || flag == "leave" || flag == "delay" || flag == "rate" || flag == "period" ||
        flag == "down") {
      body[flag] = value;
    } else if (flag == "loss") {
      size_t used = 0;
      double p = -1;
      try {
        p = std::stod(value, &used);
      } catch (const std::exception&) {
      }
      if (p <= 0 || used != value.size()) return Status::Error("--loss takes a percentage above 0, not '" + value + "'");
      body[flag] = p;
    } else if (flag == "for") {
      body["duration"] = value;
    } else if (flag == "rank" || flag == "percent") {
      size_t used = 0;
      int n = -1;
      try {
        n = std::stoi(value, &used);
      } catch (const std::exception&) {
      }
      if (n < 0 || used != value.size()) return Status::Error("--" + flag + " takes a whole number, not '" + value + "'");
      body[flag] = n;
    }
  }
  return body;
}

std::string InjectionLine(const json& i) {
  std::string line = i.value("id", std::string("?")) + ": " + i.value("kind", std::string("?")) + " on " + Target(i) + ": " +
                     i.value("state", std::string("?"));
  if (i.value("state", std::string()) == "active") line += " (" + Duration(i) + ")";
  const std::string outcome = Outcome(i);
  return outcome.empty() ? line : line + " — " + outcome;
}

std::string InjectionsTable(const json& injections) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : injections) {
    rows.push_back({i.value("id", std::string("?")), i.value("kind", std::string("?")), Target(i), i.value("state", std::string("?")),
                    Duration(i), Outcome(i)});
  }
  if (rows.empty()) return "(no injections)\n";
  return RenderTable({"ID", "KIND", "TARGET", "STATE", "FOR", "DONE"}, rows);
}

}  // namespace bulwark::ctl
