#include "trainer/data.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace bulwark::train {
namespace {

TrainConfig SmallConfig() {
  TrainConfig c;
  c.model.vocab_size = 50;
  c.model.seq_len = 8;
  c.micro_batch = 3;
  return c;
}

std::vector<int32_t> Batch(DataLoader& d, const TrainConfig& c) {
  std::vector<int32_t> in((size_t)c.micro_batch * c.model.seq_len), tgt(in.size());
  d.NextBatch(in.data(), tgt.data());
  in.insert(in.end(), tgt.begin(), tgt.end());
  return in;
}

TEST(DataTest, SameSeedAndRankGiveTheSameStreamAndRanksDiffer) {
  auto c = SmallConfig();
  auto a = DataLoader::Create(c, 0), b = DataLoader::Create(c, 0), other = DataLoader::Create(c, 1);
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  for (int i = 0; i < 5; ++i) {
    auto x = Batch(*a.value(), c);
    EXPECT_EQ(x, Batch(*b.value(), c));
    EXPECT_NE(x, Batch(*other.value(), c));
  }
}

TEST(DataTest, TargetsAreInputsShiftedByOne) {
  auto c = SmallConfig();
  auto d = DataLoader::Create(c, 0);
  std::vector<int32_t> in(24), tgt(24);
  d.value()->NextBatch(in.data(), tgt.data());
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t + 1 < 8; ++t) EXPECT_EQ(tgt[b * 8 + t], in[b * 8 + t + 1]);
}

TEST(DataTest, RestoredStateContinuesTheSameStream) {
  auto c = SmallConfig();
  auto a = DataLoader::Create(c, 2);
  Batch(*a.value(), c);
  const LoaderState saved = a.value()->state();
  EXPECT_EQ(saved.cursor, 3u);
  auto expected = Batch(*a.value(), c);
  auto b = DataLoader::Create(c, 2);
  b.value()->set_state(saved);
  EXPECT_EQ(Batch(*b.value(), c), expected);
}

TEST(DataTest, MarkovChainIsLearnable) {
  // Its entropy rate must sit far below a uniform guess, or the loss could not fall.
  MarkovChain chain(128, 3, 1234);
  const double h = chain.EstimateEntropy(1, 20000);
  EXPECT_GT(h, 0.1);
  EXPECT_LT(h, 0.5 * std::log(128.0));
}

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::vector<uint16_t>& tokens, size_t extra_byte = 0) {
    std::string path = bulwark::testing::UniqueTempDir() + "/tokens.bin";
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * 2));
    if (extra_byte) out.put('x');
    return path;
  }
};

TEST_F(TokenFileTest, ReadsWindowsFromTheFile) {
  std::vector<uint16_t> tokens(100);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint16_t>(i % 50);
  auto c = SmallConfig();
  c.data.source = "file";
  c.data.path = Write(tokens);
  auto d = DataLoader::Create(c, 0);
  ASSERT_TRUE(d.ok()) << d.status().message();
  std::vector<int32_t> in(24), tgt(24);
  d.value()->NextBatch(in.data(), tgt.data());
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 8; ++t) EXPECT_EQ(tgt[b * 8 + t], (in[b * 8 + t] + 1) % 50);
}

TEST_F(TokenFileTest, BadFilesGetClearErrors) {
  auto c = SmallConfig();
  c.data.source = "file";
  c.data.path = Write({1, 2, 3});
  EXPECT_NE(DataLoader::Create(c, 0).status().message().find("needs at least model.seq_len + 2"), std::string::npos);
  c.data.path = Write(std::vector<uint16_t>(20, 60));
  EXPECT_NE(DataLoader::Create(c, 0).status().message().find("token 60 at index 0 is outside model.vocab_size 50"),
            std::string::npos);
  c.data.path = Write(std::vector<uint16_t>(20, 1), 1);
  EXPECT_NE(DataLoader::Create(c, 0).status().message().find("not a whole number of uint16 tokens"), std::string::npos);
  c.data.path = "/nonexistent/tokens.bin";
  EXPECT_NE(DataLoader::Create(c, 0).status().message().find("cannot open token file"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::train
