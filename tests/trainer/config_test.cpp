#include "trainer/config.h"

#include <gtest/gtest.h>

namespace bulwark::train {
namespace {

const char* kValid = R"(model:
  vocab_size: 64
  seq_len: 16
  d_model: 32
  n_layers: 2
  n_heads: 2
train:
  steps: 7
  micro_batch: 3
)";

std::string ErrorOf(const std::string& yaml) {
  auto r = ParseTrainConfig(yaml, "job.yaml");
  EXPECT_FALSE(r.ok()) << "expected an error for:\n" << yaml;
  return r.ok() ? "" : r.status().message();
}

TEST(ConfigTest, ValidConfigParsesWithDefaults) {
  auto r = ParseTrainConfig(kValid, "job.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->model.d_model, 32);
  EXPECT_EQ(r->steps, 7);
  EXPECT_EQ(r->micro_batch, 3);
  EXPECT_EQ(r->data.source, "markov");
  EXPECT_DOUBLE_EQ(r->optim.beta2, 0.95);
}

TEST(ConfigTest, ShippedConfigsParse) {
  for (const char* name : {"tiny.yaml", "small.yaml", "gpt100m.yaml"}) {
    auto r = LoadTrainConfigFile(std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/" + name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().message();
  }
}

TEST(ConfigTest, UnknownKeyIsNamedWithItsLine) {
  std::string yaml = kValid;
  yaml += "  learning_rate: 3\n";
  EXPECT_EQ(ErrorOf(yaml), "job.yaml:10: train.learning_rate: unknown key");
}

TEST(ConfigTest, WrongTypeIsNamedWithItsLine) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("d_model: 32"), 11, "d_model: big");
  EXPECT_EQ(ErrorOf(yaml), "job.yaml:4: model.d_model: must be an integer, got 'big'");
}

TEST(ConfigTest, OutOfRangeAndShapeErrorsNameTheKey) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("micro_batch: 3"), 14, "micro_batch: 0");
  EXPECT_NE(ErrorOf(yaml).find("train.micro_batch: must be between 1 and"), std::string::npos);

  yaml = kValid;
  yaml.replace(yaml.find("d_model: 32"), 11, "d_model: 36");
  EXPECT_NE(ErrorOf(yaml).find("model.d_model: must be a multiple of 8"), std::string::npos);

  yaml = kValid;
  yaml.replace(yaml.find("n_heads: 2"), 10, "n_heads: 3");
  EXPECT_NE(ErrorOf(yaml).find("model.n_heads: must divide model.d_model"), std::string::npos);
}

TEST(ConfigTest, LeadingZeroIsDecimal) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("steps: 7"), 8, "steps: 010");
  auto r = ParseTrainConfig(yaml, "job.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->steps, 10);
}

TEST(ConfigTest, MissingRequiredKeyIsNamed) {
  std::string yaml = kValid;
  yaml.erase(yaml.find("  seq_len: 16\n"), 14);
  EXPECT_NE(ErrorOf(yaml).find("model.seq_len: is required"), std::string::npos);
}

TEST(ConfigTest, SyntaxErrorNamesTheLine) {
  EXPECT_NE(ErrorOf("model:\n  vocab_size: [1, 2\n").find("job.yaml:"), std::string::npos);
}

TEST(ConfigTest, FileSourceNeedsPathAndChoicesAreChecked) {
  std::string yaml = kValid;
  yaml += "data:\n  source: file\n";
  EXPECT_NE(ErrorOf(yaml).find("data.path: is required"), std::string::npos);
  yaml = kValid;
  yaml += "data:\n  source: wiki\n";
  EXPECT_NE(ErrorOf(yaml).find("data.source: must be one of {markov, file}, got 'wiki'"), std::string::npos);
}

TEST(ConfigTest, FaultsInConfig) {
  std::string yaml = kValid;
  yaml += "faults:\n  - {kind: slow, step: 3, rank: 1, percent: 50}\n  - {kind: crash, step: 9, rank: 0}\n";
  auto r = ParseTrainConfig(yaml, "job.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->faults.size(), 2u);
  EXPECT_EQ(r->faults[0].kind, FaultKind::kSlow);
  EXPECT_DOUBLE_EQ(r->faults[0].percent, 50);
  EXPECT_EQ(r->faults[1].step, 9);

  yaml = kValid;
  yaml += "faults:\n  - {kind: slow, step: 3, rank: 1}\n";
  EXPECT_NE(ErrorOf(yaml).find("faults[0].percent: is required"), std::string::npos);
  yaml = kValid;
  yaml += "faults:\n  - {kind: melt, step: 3, rank: 1}\n";
  EXPECT_NE(ErrorOf(yaml).find("faults[0].kind: must be one of"), std::string::npos);
}

TEST(ConfigTest, FaultSpecFromEnvironment) {
  auto r = ParseFaultSpec("crash:step=10:rank=1; slow:step=5:rank=0:percent=50;hang:step=7:rank=2");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].kind, FaultKind::kCrash);
  EXPECT_EQ((*r)[1].percent, 50);
  EXPECT_EQ((*r)[2].rank, 2);
  EXPECT_FALSE(ParseFaultSpec("crash:rank=1").ok());
  EXPECT_FALSE(ParseFaultSpec("slow:step=1:rank=0").ok());
  EXPECT_FALSE(ParseFaultSpec("crash:step=x:rank=0").ok());
  EXPECT_NE(ParseFaultSpec("explode:step=1:rank=0").status().message().find("kind must be"), std::string::npos);
}

TEST(ConfigTest, AFaultMayBelongToANodeInsteadOfARank) {
  auto r = ParseFaultSpec("crash:step=10:node=node-02;slow:step=1:rank=3:node=node-04:percent=20");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].rank, -1) << "every rank on that node";
  EXPECT_EQ((*r)[0].node, "node-02");
  EXPECT_EQ((*r)[1].rank, 3);
  EXPECT_EQ((*r)[1].node, "node-04");
  EXPECT_EQ(ParseFaultSpec("crash:step=10").status().message(),
            "BULWARK_FAULTS: 'crash:step=10': needs rank=R with R >= 0, or node=NAME");
  EXPECT_FALSE(ParseFaultSpec("crash:step=10:node=").ok());
}

TEST(ConfigTest, FingerprintIgnoresStepsAndFaultsButNotModel) {
  auto a = ParseTrainConfig(kValid, "a").value();
  auto b = a;
  b.steps = 1000;
  b.faults.push_back({FaultKind::kCrash, 3, 0, 0, ""});
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  b.model.n_layers = 3;
  EXPECT_NE(a.Fingerprint(), b.Fingerprint());
}

}  // namespace
}  // namespace bulwark::train
