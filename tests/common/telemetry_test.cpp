#include "common/telemetry.h"

#include <gtest/gtest.h>

#include <random>

#include "common/strict_json.h"

namespace bulwark {
namespace {

using json = nlohmann::json;

const char* kBody =
    R"({"batches":[{"time_ms":17,"ranks":[{"rank":0,"pid":41,"comms":[{"comm":"c0","op":"allreduce","calls":10,)"
    R"("bytes":4096,"mean_us":12.5,"max_us":40,"p99_us":39.5,"last_seq":9,"last_seq_done":8,"in_call_us":3}]},)"
    R"({"rank":1,"comms":[]}]},{"time_ms":18}]})";

std::string ErrorOf(const std::string& text) {
  try {
    ParseTelemetry(text);
  } catch (const JsonError& e) {
    return e.what();
  }
  return "";
}

// The tree-building reader the streaming one replaced: the reference for what is accepted.
json ReferenceRead(const std::string& text) {
  const json body = ParseJson(text);
  StrictJson in(body);
  json out = json::array();
  for (auto& batch : in.ObjectList("batches")) {
    json b = {{"time_ms", batch.RequiredInt("time_ms", 0, INT64_MAX)}, {"ranks", json::array()}};
    for (auto& rank : batch.ObjectList("ranks")) {
      json r = {{"rank", rank.RequiredInt("rank", 0, 1 << 24)}, {"pid", rank.Int("pid", 0, 0, INT32_MAX)},
                {"comms", json::array()}};
      for (auto& comm : rank.ObjectList("comms")) {
        r["comms"].push_back({{"comm", comm.RequiredString("comm")}, {"op", comm.RequiredString("op")},
                              {"calls", comm.Int("calls", 0, 0, INT64_MAX)}, {"bytes", comm.Int("bytes", 0, 0, INT64_MAX)},
                              {"mean_us", comm.Number("mean_us", 0, 0, 1e15)}, {"max_us", comm.Number("max_us", 0, 0, 1e15)},
                              {"p50_us", comm.Number("p50_us", 0, 0, 1e15)}, {"p99_us", comm.Number("p99_us", 0, 0, 1e15)},
                              {"last_seq", comm.Int("last_seq", 0, 0, INT64_MAX)},
                              {"last_seq_done", comm.Int("last_seq_done", 0, 0, INT64_MAX)},
                              {"in_call_us", comm.Number("in_call_us", 0, 0, 1e15)}});
        comm.Finish();
      }
      rank.Finish();
      b["ranks"].push_back(r);
    }
    batch.Finish();
    out.push_back(b);
  }
  in.Finish();
  return out;
}

json StreamingRead(const std::string& text) {
  json out = json::array();
  for (const auto& b : ParseTelemetry(text)) out.push_back(ToJson(b));
  return out;
}

TEST(TelemetryTest, ReadsEveryField) {
  auto batches = ParseTelemetry(kBody);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].time_ms, 17);
  ASSERT_EQ(batches[0].ranks.size(), 2u);
  const CommStats& c = batches[0].ranks[0].comms.at(0);
  EXPECT_EQ(c.comm, "c0");
  EXPECT_EQ(c.op, "allreduce");
  EXPECT_EQ(c.calls, 10);
  EXPECT_EQ(c.bytes, 4096);
  EXPECT_DOUBLE_EQ(c.mean_us, 12.5);
  EXPECT_DOUBLE_EQ(c.max_us, 40);
  EXPECT_EQ(c.last_seq, 9);
  EXPECT_EQ(c.last_seq_done, 8);
  EXPECT_DOUBLE_EQ(c.p99_us, 39.5);
  EXPECT_DOUBLE_EQ(c.in_call_us, 3);
  EXPECT_EQ(batches[0].ranks[1].rank, 1);
  EXPECT_EQ(batches[0].ranks[1].pid, 0);
  EXPECT_TRUE(batches[1].ranks.empty());
  EXPECT_EQ(StreamingRead(TelemetryBody(batches)), StreamingRead(kBody));
  EXPECT_TRUE(ParseTelemetry("{}").empty());
  EXPECT_TRUE(ParseTelemetry(R"({"batches":null})").empty());
}

TEST(TelemetryTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"c","op":"x","calls":"9"}]}]}]})"),
            "batches[0].ranks[0].comms[0].calls: must be an integer, got string");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0},{"rank":1,"bogus":2}]}]})"),
            "batches[0].ranks[1].bogus: unknown field");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1},{"ranks":[]}]})"), "batches[1].time_ms: is required");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"pid":1}]}]})"), "batches[0].ranks[0].rank: is required");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"","op":"x"}]}]}]})"),
            "batches[0].ranks[0].comms[0].comm: must not be empty");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"c"}]}]}]})"),
            "batches[0].ranks[0].comms[0].op: is required");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":-3}]}]})"),
            "batches[0].ranks[0].rank: must be between 0 and 16777216, got -3");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1.5}]})"),
            "batches[0].time_ms: must be an integer, got a fraction or an out-of-range number");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":18446744073709551615}]})"), "batches[0].time_ms: is out of range");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"c","op":"x","mean_us":2e15}]}]}]})"),
            "batches[0].ranks[0].comms[0].mean_us: must be between 0.000000 and 1000000000000000.000000");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"c","op":"x","max_us":1e400}]}]}]})"),
            "body is not valid JSON (at byte 88)");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1},7]})"), "batches[1]: must be a JSON object, got number");
  EXPECT_EQ(ErrorOf(R"({"batches":[null]})"), "batches[0]: must be a JSON object, got null");
  EXPECT_EQ(ErrorOf(R"({"batches":{"time_ms":1}})"), "batches: must be an array, got object");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":[1]}]})"), "batches[0].time_ms: must be an integer, got array");
  EXPECT_EQ(ErrorOf(R"([1,2])"), "body: must be a JSON object, got array");
  EXPECT_EQ(ErrorOf(R"("text")"), "body: must be a JSON object, got string");
  EXPECT_EQ(ErrorOf(R"(42)"), "body: must be a JSON object, got number");
  EXPECT_EQ(ErrorOf(R"({"batches":[)"), "body is not valid JSON (at byte 13)");
  EXPECT_EQ(ErrorOf(""), "body is not valid JSON (at byte 1)");
}

TEST(TelemetryTest, ReadsPerCallTimingsAndProcessState) {
  const auto batches = ParseTelemetry(
      R"({"batches":[{"time_ms":1,"ranks":[{"rank":2,"state":"T","comms":[{"comm":"c","op":"allreduce",)"
      R"("comm_rank":1,"timings":[18446744073709551615,12.5,300,0,7,0]}]}]}]})");
  const RankTelemetry& r = batches.at(0).ranks.at(0);
  EXPECT_EQ(r.state, "T");
  const CommStats& c = r.comms.at(0);
  EXPECT_EQ(c.comm_rank, 1);
  ASSERT_EQ(c.timings.size(), 2u);
  EXPECT_EQ(c.timings[0].seq, UINT64_MAX);  // full 64 bits: sequence numbers may wrap
  EXPECT_DOUBLE_EQ(c.timings[0].in_call_us, 12.5);
  EXPECT_DOUBLE_EQ(c.timings[0].compute_us, 300);
  EXPECT_EQ(c.timings[1].seq, 0u);
  EXPECT_DOUBLE_EQ(c.timings[1].in_call_us, 7);
  // The wire form reads back the same.
  const auto again = ParseTelemetry(TelemetryBody(batches));
  EXPECT_EQ(again.at(0).ranks.at(0).comms.at(0).timings[0].seq, UINT64_MAX);
  EXPECT_EQ(again.at(0).ranks.at(0).state, "T");

  const std::string head = R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"comms":[{"comm":"c","op":"x","timings":)";
  EXPECT_EQ(ErrorOf(head + "[1,2]}]}]}]}"),
            "batches[0].ranks[0].comms[0].timings: must hold triples (seq, in_call_us, compute_us), got 2 numbers");
  EXPECT_EQ(ErrorOf(head + "[1.5,2,3]}]}]}]}"), "batches[0].ranks[0].comms[0].timings[0]: a sequence number must be an integer");
  EXPECT_EQ(ErrorOf(head + "[1,-2,3]}]}]}]}"), "batches[0].ranks[0].comms[0].timings[1]: must not be negative, got -2");
  EXPECT_EQ(ErrorOf(head + "[1,2,\"x\"]}]}]}]}"), "batches[0].ranks[0].comms[0].timings[2]: must be a number, got string");
  EXPECT_EQ(ErrorOf(head + "[{}]}]}]}]}"), "batches[0].ranks[0].comms[0].timings[0]: must be a number, got object");
  EXPECT_EQ(ErrorOf(head + "7}]}]}]}"), "batches[0].ranks[0].comms[0].timings: must be an array, got number");
  EXPECT_EQ(ErrorOf(R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"state":"running"}]}]})"),
            "batches[0].ranks[0].state: must be one process state letter, got 'running'");
}

// Differential check: single edits of a valid body are accepted by the streaming reader
// exactly when the tree-building reference accepts them, and then read the same.
TEST(TelemetryTest, AgreesWithTheReferenceReaderOnEditedBodies) {
  const std::string base = kBody;
  const std::vector<std::string> tokens = {"null", "-1", "1.5", "\"\"", "\"x\"", "{}", "[]", "true", ",", ":",
                                           "\"bogus\":1,", "1e400", "18446744073709551616", "{\"time_ms\":3}"};
  std::mt19937 rng(20261123);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = base;
    const size_t at = rng() % text.size();
    switch (rng() % 3) {
      case 0: text.erase(at, 1 + rng() % 8); break;
      case 1: text.insert(at, tokens[rng() % tokens.size()]); break;
      default: text.replace(at, 1 + rng() % 6, tokens[rng() % tokens.size()]); break;
    }
    json reference, streamed;
    bool reference_ok = true, streamed_ok = true;
    try {
      reference = ReferenceRead(text);
    } catch (const JsonError&) {
      reference_ok = false;
    }
    try {
      streamed = StreamingRead(text);
    } catch (const JsonError&) {
      streamed_ok = false;
    }
    ASSERT_EQ(reference_ok, streamed_ok) << text;
    if (reference_ok) {
      ASSERT_EQ(reference, streamed) << text;
      ++accepted;
    } else {
      ++rejected;
    }
  }
  EXPECT_GT(accepted, 100);  // the edits must exercise both outcomes
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace bulwark
