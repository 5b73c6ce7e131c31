// Record and replay: every input the engine gets, one JSON object per line, so any verdict
// can be reproduced from a file and tests can run from traces in milliseconds.
//   {"t":NOW,"in":"telemetry","node":N,"batch":{...telemetry.h batch...}}
//   {"t":NOW,"in":"rank_gone","node":N,"rank":R,"pid":P,"why":W,"event_ms":E}
//   {"t":NOW,"in":"node_lost","node":N,"why":W}
//   {"t":NOW,"in":"tick"}
#pragma once

#include <cstdint>
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "diagnostics/engine.h"

namespace bulwark::diagnostics {

// The engine with an optional recorder in front: each input is written, then applied.
class RecordingEngine {
 public:
  explicit RecordingEngine(EngineOptions options = {}) : engine_(options) {}
  // Appends every later input to `path`; an error names the path and why it cannot be opened.
  Status RecordTo(const std::string& path);

  void Telemetry(const std::string& node, const TelemetryBatch& batch, int64_t now_ms);
  void RankGone(const std::string& node, int64_t rank, int64_t pid, const std::string& why, int64_t event_ms,
                int64_t now_ms);
  void NodeLost(const std::string& node, const std::string& why, int64_t now_ms);
  void Relaunched(int64_t now_ms);
  std::vector<Verdict> Tick(int64_t now_ms);

  const EngineOptions& options() const { return engine_.options(); }
  nlohmann::json LatenessJson() const { return engine_.LatenessJson(); }
  uint64_t records_written() const { return records_; }

 private:
  void Write(const nlohmann::json& record);
  Engine engine_;
  std::unique_ptr<std::ofstream> out_;
  std::string path_;
  uint64_t records_ = 0;
};

// Feeds every line of a recorded trace into a fresh engine and returns the verdicts it
// reached, in order. A malformed line is an error naming its line number and field.
Result<std::vector<Verdict>> ReplayTrace(std::istream& in, EngineOptions options);

}  // namespace bulwark::diagnostics
