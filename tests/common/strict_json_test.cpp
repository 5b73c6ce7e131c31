#include "common/strict_json.h"

#include <gtest/gtest.h>

#include "common/node_info.h"
#include "common/token.h"
#include "common/yaml_json.h"

namespace bulwark {
namespace {

std::string ErrorOf(const std::string& text) {
  try {
    ParseNodeInfo(ParseJson(text));
  } catch (const JsonError& e) {
    return e.what();
  }
  return "";
}

TEST(StrictJsonTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"name":"n1","bogus":1})"), "bogus: unknown field");
  EXPECT_EQ(ErrorOf(R"({"name":"n1","gpus":"8"})"), "gpus: must be an integer, got string");
  EXPECT_EQ(ErrorOf(R"({"name":"n1","gpus":1.5})"), "gpus: must be an integer, got a fraction or an out-of-range number");
  EXPECT_EQ(ErrorOf(R"({"name":"n1","nics":[{"name":"a","type":"ib","speed_gbps":"fast"}]})"),
            "nics[0].speed_gbps: must be a number, got string");
  EXPECT_EQ(ErrorOf(R"({"nics":[]})"), "name: is required");
  EXPECT_EQ(ErrorOf(R"({"name":"../etc"})"),
            "name: '../etc' is not a valid node name (letters, digits, '-', '_', '.'; at most 63)");
  EXPECT_EQ(ErrorOf(R"([1,2])"), "body: must be a JSON object, got array");
  EXPECT_EQ(ErrorOf(R"({"name":)"), "body is not valid JSON (at byte 9)");
  EXPECT_EQ(ErrorOf(R"({"name":"n1","gpus":99999999999999999999})"), "gpus: must be an integer, got a fraction or an out-of-range number");
  EXPECT_EQ(ErrorOf(R"({"name":"n1"})"), "");
}

TEST(StrictJsonTest, RoundTripsNodeInfo) {
  NodeInfo a = ParseNodeInfo(ParseJson(
      R"({"name":"gpu-7","failure_domain":{"rack":"r1","leaf":"l1"},"nics":[{"name":"ib0","type":"ib","speed_gbps":400,"rail":3}],"gpus":8})"));
  NodeInfo b = ParseNodeInfo(ToJson(a));
  EXPECT_EQ(ToJson(a), ToJson(b));
  EXPECT_EQ(b.nics.at(0).rail, 3);
  EXPECT_EQ(b.rack, "r1");
}

TEST(YamlJsonTest, KeepsLineNumbersAndTypes) {
  std::map<std::string, int> lines;
  auto j = YamlToJson(YAML::Load("name: a\nnodes: 4\nsnapshot:\n  k: x\nflag: true\nq: \"7\"\n"), &lines);
  EXPECT_EQ(j["nodes"], 4);
  EXPECT_EQ(j["flag"], true);
  EXPECT_EQ(j["q"], "7");
  EXPECT_EQ(j["snapshot"]["k"], "x");
  EXPECT_EQ(lines["snapshot.k"], 4);
}

TEST(TokenTest, ComparesWholeTokens) {
  EXPECT_TRUE(TokensEqual("abcdefghijklmnop", "abcdefghijklmnop"));
  EXPECT_FALSE(TokensEqual("abcdefghijklmnop", "abcdefghijklmnoq"));
  EXPECT_FALSE(TokensEqual("abcdefghijklmnop", "abcdefghijklmnopq"));
  EXPECT_FALSE(TokensEqual("", ""));  // an unset token never matches
  EXPECT_EQ(NewToken().size(), 64u);
  EXPECT_NE(NewToken(), NewToken());
}

}  // namespace
}  // namespace bulwark
