#include "controller/injection.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace bulwark::controller {
namespace {

using nlohmann::json;

// A number followed by a unit from `units` (longest names first); bare numbers use `bare`.
Result<uint64_t> ParseScaled(const std::string& text, const std::vector<std::pair<std::string, uint64_t>>& units,
                             uint64_t bare, const std::string& what) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  if (digits == 0 || digits > 15) return Status::Error("'" + text + "' is not " + what);
  const uint64_t n = std::stoull(text.substr(0, digits));
  if (unit.empty()) return n * bare;
  for (const auto& [name, scale] : units) {
    if (unit == name) return n * scale;
  }
  return Status::Error("'" + text + "' is not " + what);
}

}  // namespace

const std::vector<InjectionKind>& InjectionKinds() {
  static const std::vector<InjectionKind> kinds = {
      {"kill-rank", InjectionSite::kAgent, false, "SIGKILL one rank process on the node"},
      {"kill-node", InjectionSite::kAgent, false, "the node dies whole: its ranks, its snapshot memory, its agent"},
      {"hang-rank", InjectionSite::kAgent, true, "SIGSTOP one rank (it hangs inside or between collectives)"},
      {"slow-rank", InjectionSite::kAgent, true, "throttle one rank: stopped percent/(100+percent) of every 100 ms"},
      {"corrupt-fragment", InjectionSite::kAgent, false, "flip a byte of the newest parity fragment the node holds for its peers"},
      {"fill-disk", InjectionSite::kController, true, "fill the filesystem under the controller's database (leave N bytes free)"},
      {"kill-controller", InjectionSite::kOperator, true, "SIGKILL the controller; the local cluster starts it again after the duration"},
  };
  return kinds;
}

const InjectionKind* FindInjectionKind(const std::string& name) {
  for (const auto& k : InjectionKinds()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

Result<int64_t> ParseDurationMs(const std::string& text) {
  auto ms = ParseScaled(text, {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}}, 1, "a duration (500ms, 30s, 2m, 1h)");
  if (!ms.ok()) return ms.status();
  return static_cast<int64_t>(ms.value());
}

Result<uint64_t> ParseBytes(const std::string& text) {
  return ParseScaled(text, {{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"B", 1}}, 1,
                     "a size (4096, 64MiB, 1GiB)");
}

Result<InjectionSpec> ParseInjection(const json& body) {
  if (!body.is_object()) return Status::Error("an injection is a JSON object");
  for (const auto& [key, value] : body.items()) {
    static const char* kKnown[] = {"kind", "node", "job", "rank", "duration", "percent", "leave"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Status::Error("unknown field '" + key + "' (known: kind, node, job, rank, duration, percent, leave)");
    }
  }
  InjectionSpec spec;
  spec.kind = body.value("kind", std::string());
  const InjectionKind* kind = FindInjectionKind(spec.kind);
  if (!kind) {
    std::string known;
    for (const auto& k : InjectionKinds()) known += (known.empty() ? "" : ", ") + k.name;
    return Status::Error("'kind' must be one of " + known + (spec.kind.empty() ? "" : "; not '" + spec.kind + "'"));
  }
  const auto text = [&](const char* field, std::string* out) -> Status {
    if (!body.contains(field)) return Status::Ok();
    if (!body[field].is_string() || body[field].get<std::string>().empty()) return Status::Error(std::string("'") + field + "' must be a non-empty string");
    *out = body[field].get<std::string>();
    return Status::Ok();
  };
  if (Status s = text("node", &spec.node); !s.ok()) return s;
  if (Status s = text("job", &spec.job); !s.ok()) return s;
  if (kind->site == InjectionSite::kAgent && spec.node.empty()) return Status::Error("'node' is required for " + spec.kind);
  if (kind->site != InjectionSite::kAgent && !spec.node.empty()) return Status::Error(spec.kind + " takes no 'node'");
  if (body.contains("rank")) {
    if (!body["rank"].is_number_integer() || body["rank"].get<int64_t>() < 0) return Status::Error("'rank' must be a rank number (0 or more)");
    if (spec.kind != "kill-rank" && spec.kind != "hang-rank" && spec.kind != "slow-rank") return Status::Error(spec.kind + " takes no 'rank'");
    spec.rank = body["rank"].get<int>();
  }
  if (body.contains("duration")) {
    if (!kind->lasting) return Status::Error(spec.kind + " is done at once and takes no 'duration'");
    const json& d = body["duration"];
    Result<int64_t> ms = d.is_number_integer() ? Result<int64_t>(d.get<int64_t>())
                         : d.is_string()      ? ParseDurationMs(d.get<std::string>())
                                              : Result<int64_t>(Status::Error("'duration' must be a string like 30s or a number of ms"));
    if (!ms.ok()) return Status::Error("'duration': " + ms.status().message());
    if (ms.value() < 0 || ms.value() > 24 * 3600 * 1000LL) return Status::Error("'duration' must be between 0 and 24h");
    spec.duration_ms = ms.value();
  }
  if (body.contains("percent")) {
    if (spec.kind != "slow-rank") return Status::Error(spec.kind + " takes no 'percent'");
    if (!body["percent"].is_number_integer() || body["percent"].get<int64_t>() < 1 || body["percent"].get<int64_t>() > 1000) {
      return Status::Error("'percent' must be a whole number from 1 to 1000 (extra time of each unit of work)");
    }
    spec.percent = body["percent"].get<int>();
  }
  if (body.contains("leave")) {
    if (spec.kind != "fill-disk") return Status::Error(spec.kind + " takes no 'leave'");
    const json& l = body["leave"];
    Result<uint64_t> bytes = l.is_number_unsigned() || (l.is_number_integer() && l.get<int64_t>() >= 0)
                                 ? Result<uint64_t>(l.get<uint64_t>())
                             : l.is_string() ? ParseBytes(l.get<std::string>())
                                             : Result<uint64_t>(Status::Error("'leave' must be a size like 64MiB or a number of bytes"));
    if (!bytes.ok()) return Status::Error("'leave': " + bytes.status().message());
    spec.leave_bytes = bytes.value();
  }
  if (spec.kind == "kill-controller" && spec.duration_ms == 0) spec.duration_ms = 2000;  // it comes back
  return spec;
}

json ToJson(const InjectionSpec& spec) {
  json j = {{"kind", spec.kind}};
  if (!spec.node.empty()) j["node"] = spec.node;
  if (!spec.job.empty()) j["job"] = spec.job;
  if (spec.rank) j["rank"] = *spec.rank;
  const InjectionKind* kind = FindInjectionKind(spec.kind);
  if (kind && kind->lasting) j["duration_ms"] = spec.duration_ms;
  if (spec.kind == "slow-rank") j["percent"] = spec.percent;
  if (spec.kind == "fill-disk") j["leave_bytes"] = spec.leave_bytes;
  return j;
}

}  // namespace bulwark::controller
