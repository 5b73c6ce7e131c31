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
      {"slow-link", InjectionSite::kAgent, true, "every packet in and out of the node's link delayed (--delay) and paced (--rate)"},
      {"lossy-link", InjectionSite::kAgent, true, "a share (--loss percent) of the packets in and out of the node's link dropped"},
      {"partition-node", InjectionSite::kAgent, true, "the node cut off: every packet of its link dropped (needs --for: it heals itself)"},
      {"flap-link", InjectionSite::kAgent, true, "the node's link down for --down of every --period, then up again"},
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
    static const char* kKnown[] = {"kind", "node", "job", "rank", "duration", "percent", "leave", "delay", "rate", "loss", "period", "down"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Status::Error("unknown field '" + key + "' (known: kind, node, job, rank, duration, percent, leave, delay, rate, loss, period, down)");
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
  // A duration field: "30s" or a number of ms, from 0 to 24 h.
  const auto duration = [&](const char* field, int64_t* out) -> Status {
    const json& d = body[field];
    Result<int64_t> ms = d.is_number_integer() ? Result<int64_t>(d.get<int64_t>())
                         : d.is_string()      ? ParseDurationMs(d.get<std::string>())
                                              : Result<int64_t>(Status::Error("must be a string like 30s or a number of ms"));
    if (!ms.ok()) return Status::Error(std::string("'") + field + "': " + ms.status().message());
    if (ms.value() < 0 || ms.value() > 24 * 3600 * 1000LL) return Status::Error(std::string("'") + field + "' must be between 0 and 24h");
    *out = ms.value();
    return Status::Ok();
  };
  // Fields that only some kinds take.
  const auto only = [&](const char* field, std::initializer_list<const char*> kinds) -> Status {
    for (const char* k : kinds) {
      if (spec.kind == k) return Status::Ok();
    }
    return Status::Error(spec.kind + " takes no '" + field + "'");
  };
  if (body.contains("duration")) {
    if (!kind->lasting) return Status::Error(spec.kind + " is done at once and takes no 'duration'");
    if (Status s = duration("duration", &spec.duration_ms); !s.ok()) return s;
  }
  if (body.contains("delay")) {
    if (Status s = only("delay", {"slow-link"}); !s.ok()) return s;
    if (Status s = duration("delay", &spec.delay_ms); !s.ok()) return s;
    if (spec.delay_ms > 10000) return Status::Error("'delay' must be at most 10s");
  }
  if (body.contains("rate")) {
    if (Status s = only("rate", {"slow-link"}); !s.ok()) return s;
    const json& r = body["rate"];
    Result<uint64_t> bits = r.is_number() && r.get<double>() > 0 ? Result<uint64_t>(static_cast<uint64_t>(r.get<double>() * 1e6))
                            : r.is_string() ? ParseScaled(r.get<std::string>(), {{"kbit", 1000}, {"mbit", 1000000}, {"gbit", 1000000000}},
                                                          1000000, "a rate (100kbit, 50mbit, 1gbit, or Mbit/s)")
                                            : Result<uint64_t>(Status::Error("must be a rate like 50mbit or a number of Mbit/s"));
    if (!bits.ok()) return Status::Error("'rate': " + bits.status().message());
    if (bits.value() < 8000) return Status::Error("'rate' must be at least 8kbit");
    spec.rate_mbit = static_cast<double>(bits.value()) / 1e6;
  }
  if (body.contains("loss")) {
    if (Status s = only("loss", {"lossy-link"}); !s.ok()) return s;
    if (!body["loss"].is_number() || body["loss"].get<double>() <= 0 || body["loss"].get<double>() > 100) {
      return Status::Error("'loss' must be a percentage of packets above 0 and at most 100");
    }
    spec.loss_percent = body["loss"].get<double>();
  }
  for (auto [field, out] : {std::pair<const char*, int64_t*>{"period", &spec.period_ms}, {"down", &spec.down_ms}}) {
    if (!body.contains(field)) continue;
    if (Status s = only(field, {"flap-link"}); !s.ok()) return s;
    if (Status s = duration(field, out); !s.ok()) return s;
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
  if (spec.kind == "slow-link" && spec.delay_ms == 0 && spec.rate_mbit == 0) spec.delay_ms = 50;
  if (spec.kind == "lossy-link" && spec.loss_percent == 0) spec.loss_percent = 10;
  if (spec.kind == "flap-link") {
    if (spec.period_ms == 0) spec.period_ms = 10000;
    if (spec.down_ms == 0) spec.down_ms = std::min<int64_t>(2000, spec.period_ms / 2);
    if (spec.down_ms >= spec.period_ms) return Status::Error("'down' must be shorter than 'period'");
  }
  // The node's agent is cut off too: no heal could reach it, so it heals itself.
  if (spec.kind == "partition-node" && spec.duration_ms == 0) {
    return Status::Error("partition-node needs a 'duration': the partition keeps any heal from reaching the node");
  }
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
  if (spec.kind == "slow-link") j.update({{"delay_ms", spec.delay_ms}, {"rate_mbit", spec.rate_mbit}});
  if (spec.kind == "lossy-link") j["loss_percent"] = spec.loss_percent;
  if (spec.kind == "flap-link") j.update({{"period_ms", spec.period_ms}, {"down_ms", spec.down_ms}});
  return j;
}

}  // namespace bulwark::controller
