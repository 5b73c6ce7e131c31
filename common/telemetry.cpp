#include "common/telemetry.h"

#include <cmath>

#include "common/strict_json.h"

namespace bulwark {
namespace {

using json = nlohmann::json;

// Where a value may stand in the telemetry document.
enum class Slot {
  kNone,
  kBatches, kBatch, kTimeMs, kRanks,
  kRankItem, kRank, kPid, kComms,
  kCommItem, kComm, kOp, kCalls, kBytes, kMeanUs, kMaxUs, kP50Us, kP99Us, kLastSeq, kLastSeqDone, kInCallUs,
  kState, kCommRank, kTimings, kTimingItem,
};

enum class FrameKind { kRoot, kBatchList, kBatch, kRankList, kRank, kCommList, kComm, kTimingList };

struct Frame {
  FrameKind kind;
  std::string key;         // objects: the field being read
  Slot field = Slot::kNone;
  int64_t index = -1;      // lists: the item being read
  uint32_t seen = 0;       // objects: bit per Slot that got a non-null value
};

bool IsList(FrameKind k) {
  return k == FrameKind::kBatchList || k == FrameKind::kRankList || k == FrameKind::kCommList ||
         k == FrameKind::kTimingList;
}

Slot FieldOf(FrameKind object, const std::string& key) {
  switch (object) {
    case FrameKind::kRoot:
      if (key == "batches") return Slot::kBatches;
      break;
    case FrameKind::kBatch:
      if (key == "time_ms") return Slot::kTimeMs;
      if (key == "ranks") return Slot::kRanks;
      break;
    case FrameKind::kRank:
      if (key == "rank") return Slot::kRank;
      if (key == "pid") return Slot::kPid;
      if (key == "comms") return Slot::kComms;
      if (key == "state") return Slot::kState;
      break;
    case FrameKind::kComm:
      if (key == "comm") return Slot::kComm;
      if (key == "op") return Slot::kOp;
      if (key == "calls") return Slot::kCalls;
      if (key == "bytes") return Slot::kBytes;
      if (key == "mean_us") return Slot::kMeanUs;
      if (key == "max_us") return Slot::kMaxUs;
      if (key == "last_seq") return Slot::kLastSeq;
      if (key == "p50_us") return Slot::kP50Us;
      if (key == "p99_us") return Slot::kP99Us;
      if (key == "last_seq_done") return Slot::kLastSeqDone;
      if (key == "in_call_us") return Slot::kInCallUs;
      if (key == "comm_rank") return Slot::kCommRank;
      if (key == "timings") return Slot::kTimings;
      break;
    default:
      break;
  }
  return Slot::kNone;
}

uint32_t Bit(Slot s) { return 1u << static_cast<int>(s); }
static_assert(static_cast<int>(Slot::kTimingItem) < 32, "seen bits fit in a uint32_t");

// Timings arrive as flat triples; a batch carries at most this many calls per communicator.
constexpr size_t kMaxTimingsPerComm = 4096;

bool IsNumberSlot(Slot s) {
  return s == Slot::kMeanUs || s == Slot::kMaxUs || s == Slot::kP50Us || s == Slot::kP99Us || s == Slot::kInCallUs;
}

// nlohmann's SAX events, checked against the telemetry schema as they arrive.
class TelemetryReader : public json::json_sax_t {
 public:
  explicit TelemetryReader(std::vector<TelemetryBatch>* out) : out_(out) {}

  bool null() override {
    if (stack_.empty()) return TopLevel("null");
    if (stack_.back().kind == FrameKind::kTimingList) return Fail(ItemPath(), "must be a number, got null");
    if (IsList(stack_.back().kind)) return Fail(ItemPath(), "must be a JSON object, got null");
    return true;  // a null field reads as absent, as in StrictJson
  }
  bool boolean(bool) override { return Scalar("boolean"); }
  bool number_integer(json::number_integer_t v) override {
    if (ValueSlot() == Slot::kTimingItem) {
      if (v < 0) return Fail(ItemPath(), "must not be negative, got " + std::to_string(v));
      return TimingValue(static_cast<double>(v), static_cast<uint64_t>(v), true);
    }
    return Integer(v, false);
  }
  bool number_unsigned(json::number_unsigned_t v) override {
    if (ValueSlot() == Slot::kTimingItem) return TimingValue(static_cast<double>(v), v, true);
    if (v > static_cast<uint64_t>(INT64_MAX)) {
      const Slot s = ValueSlot();
      if (IsNumberSlot(s)) return Number(static_cast<double>(v));
      return Integer(0, true);
    }
    return Integer(static_cast<int64_t>(v), false);
  }
  bool number_float(json::number_float_t v, const json::string_t&) override {
    const Slot s = ValueSlot();
    if (s == Slot::kTimingItem) return TimingValue(v, 0, false);
    if (IsNumberSlot(s)) return Number(v);
    if (IsIntSlot(s)) return Fail(FieldPath(), "must be an integer, got a fraction or an out-of-range number");
    return Scalar("number");
  }
  bool string(json::string_t& v) override {
    const Slot s = ValueSlot();
    if (s != Slot::kComm && s != Slot::kOp && s != Slot::kState) return Scalar("string");
    if (v.empty()) return Fail(FieldPath(), "must not be empty");
    Seen(s);
    if (s == Slot::kState) {
      if (v.size() != 1 || v[0] < 'A' || v[0] > 'z') return Fail(FieldPath(), "must be one process state letter, got '" + v + "'");
      CurrentRank().state = std::move(v);
      return true;
    }
    (s == Slot::kComm ? CurrentComm().comm : CurrentComm().op) = std::move(v);
    return true;
  }
  bool binary(json::binary_t&) override { return Scalar("binary"); }

  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      stack_.push_back({FrameKind::kRoot, {}});
      return true;
    }
    Frame& top = stack_.back();
    if (!IsList(top.kind) || top.kind == FrameKind::kTimingList) return Scalar("object");
    ++top.index;
    if (top.kind == FrameKind::kBatchList) {
      out_->emplace_back();
      stack_.push_back({FrameKind::kBatch, {}});
    } else if (top.kind == FrameKind::kRankList) {
      out_->back().ranks.emplace_back();
      stack_.push_back({FrameKind::kRank, {}});
    } else {
      out_->back().ranks.back().comms.emplace_back();
      stack_.push_back({FrameKind::kComm, {}});
    }
    return true;
  }

  bool key(json::string_t& k) override {
    Frame& top = stack_.back();
    top.key = k;
    top.field = FieldOf(top.kind, k);
    if (top.field == Slot::kNone) return Fail(FieldPath(), "unknown field");
    return true;
  }

  bool end_object() override {
    const Frame& top = stack_.back();
    const auto require = [&](Slot s, const char* name) {
      if (top.seen & Bit(s)) return true;
      return Fail(Join(PathBelowTop(), name), "is required");
    };
    bool ok = true;
    if (top.kind == FrameKind::kBatch) ok = require(Slot::kTimeMs, "time_ms");
    if (top.kind == FrameKind::kRank) ok = require(Slot::kRank, "rank");
    if (top.kind == FrameKind::kComm) ok = require(Slot::kComm, "comm") && require(Slot::kOp, "op");
    stack_.pop_back();
    return ok;
  }

  bool start_array(std::size_t) override {
    if (stack_.empty()) return TopLevel("array");
    const Slot s = ValueSlot();
    FrameKind list;
    if (s == Slot::kBatches) {
      list = FrameKind::kBatchList;
    } else if (s == Slot::kRanks) {
      list = FrameKind::kRankList;
    } else if (s == Slot::kComms) {
      list = FrameKind::kCommList;
    } else if (s == Slot::kTimings) {
      list = FrameKind::kTimingList;
    } else {
      return Scalar("array");
    }
    Seen(s);
    stack_.push_back({list, {}});
    return true;
  }
  bool end_array() override {
    const bool timings = stack_.back().kind == FrameKind::kTimingList;
    const int64_t items = stack_.back().index + 1;
    stack_.pop_back();
    if (timings && items % 3 != 0) {
      return Fail(FieldPath(), "must hold triples (seq, in_call_us, compute_us), got " + std::to_string(items) + " numbers");
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_ = "body is not valid JSON (at byte " + std::to_string(position) + ")";
    return false;
  }

  const std::string& error() const { return error_; }
  const std::string& error_path() const { return error_path_; }

 private:
  static bool IsIntSlot(Slot s) {
    return s == Slot::kTimeMs || s == Slot::kRank || s == Slot::kPid || s == Slot::kCalls || s == Slot::kBytes ||
           s == Slot::kLastSeq || s == Slot::kLastSeqDone || s == Slot::kCommRank;
  }

  // The slot the next value fills: the current field of an object, or a list item.
  Slot ValueSlot() const {
    if (stack_.empty()) return Slot::kNone;  // a bare scalar body
    const Frame& top = stack_.back();
    switch (top.kind) {
      case FrameKind::kBatchList: return Slot::kBatch;
      case FrameKind::kRankList: return Slot::kRankItem;
      case FrameKind::kCommList: return Slot::kCommItem;
      case FrameKind::kTimingList: return Slot::kTimingItem;
      default: return top.field;
    }
  }

  bool Integer(int64_t v, bool out_of_range) {
    const Slot s = ValueSlot();
    if (IsNumberSlot(s)) return Number(static_cast<double>(v));
    if (!IsIntSlot(s)) return Scalar("number");
    if (out_of_range) return Fail(FieldPath(), "is out of range");
    int64_t max = INT64_MAX;
    if (s == Slot::kRank) max = 1 << 24;
    if (s == Slot::kPid) max = INT32_MAX;
    if (s == Slot::kCommRank) max = 1 << 24;
    if (v < 0 || v > max) {
      return Fail(FieldPath(), "must be between 0 and " + std::to_string(max) + ", got " + std::to_string(v));
    }
    Seen(s);
    switch (s) {
      case Slot::kTimeMs: out_->back().time_ms = v; break;
      case Slot::kRank: CurrentRank().rank = v; break;
      case Slot::kPid: CurrentRank().pid = v; break;
      case Slot::kCalls: CurrentComm().calls = v; break;
      case Slot::kBytes: CurrentComm().bytes = v; break;
      case Slot::kLastSeqDone: CurrentComm().last_seq_done = v; break;
      case Slot::kCommRank: CurrentComm().comm_rank = v; break;
      default: CurrentComm().last_seq = v; break;
    }
    return true;
  }

  bool Number(double v) {
    constexpr double kMax = 1e15;
    if (!std::isfinite(v) || v < 0 || v > kMax) {
      return Fail(FieldPath(), "must be between " + std::to_string(0.0) + " and " + std::to_string(kMax));
    }
    const Slot s = ValueSlot();
    Seen(s);
    CommStats& c = CurrentComm();
    switch (s) {
      case Slot::kMeanUs: c.mean_us = v; break;
      case Slot::kMaxUs: c.max_us = v; break;
      case Slot::kP50Us: c.p50_us = v; break;
      case Slot::kP99Us: c.p99_us = v; break;
      default: c.in_call_us = v; break;
    }
    return true;
  }

  // One number of a timings triple: the sequence number (an integer, full 64 bits) or a duration.
  bool TimingValue(double v, uint64_t as_integer, bool is_integer) {
    Frame& list = stack_.back();
    const int64_t index = ++list.index;
    auto& timings = CurrentComm().timings;
    if (index % 3 == 0) {
      if (!is_integer) return Fail(PathBelowTop() + "[" + std::to_string(index) + "]", "a sequence number must be an integer");
      if (timings.size() >= kMaxTimingsPerComm) {
        return Fail(PathBelowTop(), "holds more than " + std::to_string(kMaxTimingsPerComm) + " calls");
      }
      timings.push_back({as_integer, 0, 0});
      return true;
    }
    if (!std::isfinite(v) || v < 0 || v > 1e15) {
      return Fail(PathBelowTop() + "[" + std::to_string(index) + "]", "a duration must be between 0 and 1e15 us");
    }
    (index % 3 == 1 ? timings.back().in_call_us : timings.back().compute_us) = v;
    return true;
  }

  // A value of the wrong kind where the schema wants something else.
  bool Scalar(const char* got) {
    if (stack_.empty()) return TopLevel(got);
    const Slot s = ValueSlot();
    const std::string path = FieldPath();
    switch (s) {
      case Slot::kBatch:
      case Slot::kRankItem:
      case Slot::kCommItem: return Fail(path, std::string("must be a JSON object, got ") + got);
      case Slot::kBatches:
      case Slot::kRanks:
      case Slot::kComms: return Fail(path, std::string("must be an array, got ") + got);
      case Slot::kComm:
      case Slot::kState:
      case Slot::kOp: return Fail(path, std::string("must be a string, got ") + got);
      case Slot::kTimings: return Fail(path, std::string("must be an array, got ") + got);
      case Slot::kTimingItem: return Fail(path, std::string("must be a number, got ") + got);
      case Slot::kMeanUs:
      case Slot::kMaxUs:
      case Slot::kP50Us:
      case Slot::kP99Us:
      case Slot::kInCallUs: return Fail(path, std::string("must be a number, got ") + got);
      default: return Fail(path, std::string("must be an integer, got ") + got);
    }
  }

  bool TopLevel(const char* got) { return Fail("", std::string("body: must be a JSON object, got ") + got, true); }

  void Seen(Slot s) { stack_.back().seen |= Bit(s); }
  RankTelemetry& CurrentRank() { return out_->back().ranks.back(); }
  CommStats& CurrentComm() { return out_->back().ranks.back().comms.back(); }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  // The path of frames [0, depth), each naming its current field or item.
  std::string PathOf(size_t depth) const {
    std::string path;
    for (size_t i = 0; i < depth; ++i) {
      const Frame& f = stack_[i];
      if (IsList(f.kind)) {
        path += "[" + std::to_string(f.index) + "]";
      } else {
        path = Join(path, f.key);
      }
    }
    return path;
  }
  std::string PathBelowTop() const { return PathOf(stack_.size() - 1); }
  // The path of the value being read now: a field, or for lists the next item.
  std::string FieldPath() const {
    if (IsList(stack_.back().kind)) return ItemPath();
    return PathOf(stack_.size());
  }
  std::string ItemPath() const {
    return PathBelowTop() + "[" + std::to_string(stack_.back().index + 1) + "]";
  }

  bool Fail(const std::string& path, const std::string& what, bool whole_message = false) {
    error_path_ = path;
    error_ = whole_message ? what : path + ": " + what;
    return false;
  }

  std::vector<TelemetryBatch>* out_;
  std::vector<Frame> stack_;
  std::string error_, error_path_;
};

}  // namespace

std::vector<TelemetryBatch> ParseTelemetry(const std::string& body) {
  std::vector<TelemetryBatch> batches;
  TelemetryReader reader(&batches);
  bool ok = false;
  try {
    ok = json::sax_parse(body, &reader);
  } catch (const json::exception& e) {
    throw JsonError(std::string("body is not usable JSON: ") + e.what());
  }
  if (!ok) throw JsonError(reader.error(), reader.error_path());
  return batches;
}

nlohmann::json ToJson(const TelemetryBatch& batch) {
  json ranks = json::array();
  for (const auto& r : batch.ranks) {
    json comms = json::array();
    for (const auto& c : r.comms) {
      json item = {{"comm", c.comm}, {"op", c.op}, {"calls", c.calls}, {"bytes", c.bytes},
                   {"mean_us", c.mean_us}, {"max_us", c.max_us}, {"p50_us", c.p50_us}, {"p99_us", c.p99_us},
                   {"last_seq", c.last_seq}, {"last_seq_done", c.last_seq_done}, {"in_call_us", c.in_call_us}};
      if (c.comm_rank >= 0) item["comm_rank"] = c.comm_rank;
      if (!c.timings.empty()) {
        json flat = json::array();
        for (const auto& t : c.timings) {
          flat.push_back(t.seq);
          flat.push_back(t.in_call_us);
          flat.push_back(t.compute_us);
        }
        item["timings"] = std::move(flat);
      }
      comms.push_back(std::move(item));
    }
    json rank = {{"rank", r.rank}, {"pid", r.pid}, {"comms", std::move(comms)}};
    if (!r.state.empty()) rank["state"] = r.state;
    ranks.push_back(std::move(rank));
  }
  return {{"time_ms", batch.time_ms}, {"ranks", std::move(ranks)}};
}

std::string TelemetryBody(const std::vector<TelemetryBatch>& batches) {
  json list = json::array();
  for (const auto& b : batches) list.push_back(ToJson(b));
  return DumpJson({{"batches", std::move(list)}});
}

}  // namespace bulwark
