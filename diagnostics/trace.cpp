#include "diagnostics/trace.h"

#include <fstream>
#include <istream>

#include "common/strict_json.h"

namespace bulwark::diagnostics {

using nlohmann::json;

Status RecordingEngine::RecordTo(const std::string& path) {
  auto out = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*out) return Status::Error("cannot open the diagnosis trace " + path + " for appending");
  out_ = std::move(out);
  path_ = path;
  return Status::Ok();
}

void RecordingEngine::Write(const json& record) {
  if (!out_) return;
  *out_ << record.dump() << '\n';
  out_->flush();  // a trace is read while the controller runs, and after it crashed
  ++records_;
}

void RecordingEngine::Telemetry(const std::string& node, const TelemetryBatch& batch, int64_t now_ms) {
  if (out_) Write({{"t", now_ms}, {"in", "telemetry"}, {"node", node}, {"batch", ToJson(batch)}});
  engine_.Telemetry(node, batch, now_ms);
}

void RecordingEngine::RankGone(const std::string& node, int64_t rank, int64_t pid, const std::string& why,
                               int64_t event_ms, int64_t now_ms) {
  if (out_) {
    Write({{"t", now_ms}, {"in", "rank_gone"}, {"node", node}, {"rank", rank}, {"pid", pid}, {"why", why},
           {"event_ms", event_ms}});
  }
  engine_.RankGone(node, rank, pid, why, event_ms, now_ms);
}

void RecordingEngine::Relaunched(int64_t now_ms) {
  if (out_) Write({{"t", now_ms}, {"in", "relaunched"}});
  engine_.Relaunched(now_ms);
}

void RecordingEngine::NodeLost(const std::string& node, const std::string& why, int64_t now_ms) {
  if (out_) Write({{"t", now_ms}, {"in", "node_lost"}, {"node", node}, {"why", why}});
  engine_.NodeLost(node, why, now_ms);
}

std::vector<Verdict> RecordingEngine::Tick(int64_t now_ms) {
  // Every tick is kept (a few bytes each): when the engine looks decides what it concludes.
  if (out_) Write({{"t", now_ms}, {"in", "tick"}});
  return engine_.Tick(now_ms);
}

Result<std::vector<Verdict>> ReplayTrace(std::istream& in, EngineOptions options) {
  Engine engine(options);
  std::vector<Verdict> verdicts;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      const json record = ParseJson(line);
      StrictJson r(record);
      const int64_t t = r.RequiredInt("t", INT64_MIN, INT64_MAX);
      const std::string kind = r.RequiredString("in");
      if (kind == "telemetry") {
        const std::string node = r.RequiredString("node");
        const json batch = r.Raw("batch");
        r.Finish();
        for (const auto& b : ParseTelemetry(json{{"batches", json::array({batch})}}.dump())) engine.Telemetry(node, b, t);
      } else if (kind == "rank_gone") {
        const std::string node = r.RequiredString("node");
        const int64_t rank = r.RequiredInt("rank", 0, 1 << 24);
        const int64_t pid = r.Int("pid", 0, 0, INT32_MAX);
        const std::string why = r.RequiredString("why");
        const int64_t event_ms = r.Int("event_ms", t, INT64_MIN, INT64_MAX);
        r.Finish();
        engine.RankGone(node, rank, pid, why, event_ms, t);
      } else if (kind == "node_lost") {
        const std::string node = r.RequiredString("node");
        const std::string why = r.RequiredString("why");
        r.Finish();
        engine.NodeLost(node, why, t);
      } else if (kind == "relaunched") {
        r.Finish();
        engine.Relaunched(t);
      } else if (kind == "tick") {
        r.Finish();
        auto reached = engine.Tick(t);
        verdicts.insert(verdicts.end(), reached.begin(), reached.end());
      } else {
        r.Fail("in", "must be one of {telemetry, rank_gone, node_lost, relaunched, tick}, got '" + kind + "'");
      }
    } catch (const JsonError& e) {
      return Status::Error("trace line " + std::to_string(number) + ": " + e.what());
    }
  }
  return verdicts;
}

}  // namespace bulwark::diagnostics
