#include "snapshot/erasure_code.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace bulwark::snapshot {
namespace {

std::vector<std::vector<uint8_t>> RandomBlocks(int count, size_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<uint8_t>> blocks(static_cast<size_t>(count), std::vector<uint8_t>(len));
  for (auto& b : blocks)
    for (auto& x : b) x = static_cast<uint8_t>(rng());
  return blocks;
}

std::vector<uint8_t*> Ptrs(std::vector<std::vector<uint8_t>>& blocks) {
  std::vector<uint8_t*> p;
  for (auto& b : blocks) p.push_back(b.data());
  return p;
}

TEST(ErasureCodeTest, AnyKOfKPlusMFragmentsRebuildEveryDataBlock) {
  for (auto [k, m] : {std::pair{4, 2}, std::pair{8, 2}, std::pair{8, 3}, std::pair{1, 1}, std::pair{3, 1}}) {
    SCOPED_TRACE("RS(" + std::to_string(k) + "," + std::to_string(m) + ")");
    const size_t len = 4096 + 17;
    auto code = ErasureCode::Create(k, m);
    ASSERT_TRUE(code.ok());
    auto data = RandomBlocks(k, len, static_cast<uint32_t>(k * 100 + m));
    std::vector<std::vector<uint8_t>> parity(static_cast<size_t>(m), std::vector<uint8_t>(len));
    auto dp = Ptrs(data);
    auto pp = Ptrs(parity);
    code->Encode(dp.data(), len, pp.data());
    std::vector<const uint8_t*> all;
    for (auto* p : dp) all.push_back(p);
    for (auto* p : pp) all.push_back(p);
    // Every way of losing m fragments (all subsets of size m, by bitmask).
    const int n = k + m;
    int checked = 0;
    for (int lost = 0; lost < (1 << n); ++lost) {
      if (__builtin_popcount(static_cast<unsigned>(lost)) != m) continue;
      std::vector<int> present_index;
      std::vector<const uint8_t*> present;
      std::vector<int> wanted;
      for (int i = 0; i < n; ++i) {
        if (lost & (1 << i)) {
          if (i < k) wanted.push_back(i);
        } else if (static_cast<int>(present_index.size()) < k) {
          present_index.push_back(i);
          present.push_back(all[static_cast<size_t>(i)]);
        }
      }
      std::vector<std::vector<uint8_t>> out(wanted.size(), std::vector<uint8_t>(len));
      auto op = Ptrs(out);
      ASSERT_TRUE(code->Decode(present_index, present.data(), len, wanted, op.data()).ok());
      for (size_t w = 0; w < wanted.size(); ++w) ASSERT_EQ(out[w], data[static_cast<size_t>(wanted[w])]) << "lost mask " << lost;
      ++checked;
    }
    EXPECT_GT(checked, 0);
  }
}

TEST(ErasureCodeTest, FoldingBlocksInOneByOneEqualsEncodingAtOnce) {
  const int k = 4, m = 2;
  const size_t len = 1 << 16;
  auto code = ErasureCode::Create(k, m);
  auto data = RandomBlocks(k, len, 7);
  std::vector<std::vector<uint8_t>> at_once(m, std::vector<uint8_t>(len)), folded(m, std::vector<uint8_t>(len, 0));
  auto dp = Ptrs(data);
  auto ap = Ptrs(at_once);
  auto fp = Ptrs(folded);
  code->Encode(dp.data(), len, ap.data());
  for (int i : {2, 0, 3, 1}) code->AccumulateParity(i, data[static_cast<size_t>(i)].data(), len, fp.data());
  EXPECT_EQ(folded, at_once) << "each node adds its own shard, in any order";
}

TEST(ErasureCodeTest, ImpossibleCodesAndBadDecodeRequestsAreRefused) {
  EXPECT_EQ(ErasureCode::Create(0, 2).status().message(),
            "erasure code RS(0,2) is not possible: need k >= 1, m >= 1 and k + m <= 255");
  EXPECT_FALSE(ErasureCode::Create(4, 0).ok());
  EXPECT_FALSE(ErasureCode::Create(200, 56).ok());
  auto code = ErasureCode::Create(4, 2);
  std::vector<uint8_t> block(8);
  const uint8_t* present[4] = {block.data(), block.data(), block.data(), block.data()};
  uint8_t* out[1] = {block.data()};
  EXPECT_EQ(code->Decode({0, 1, 2}, present, 8, {3}, out).message(), "decoding RS(4,2) needs exactly 4 fragments, got 3");
  EXPECT_EQ(code->Decode({0, 1, 2, 2}, present, 8, {3}, out).message(), "fragment index 2 is out of range or repeated");
  EXPECT_EQ(code->Decode({0, 1, 2, 9}, present, 8, {3}, out).message(), "fragment index 9 is out of range or repeated");
  EXPECT_EQ(code->Decode({0, 1, 2, 4}, present, 8, {5}, out).message(), "wanted block 5 is not a data block");
}

TEST(ErasureCodeTest, Crc32cIsTheStandardOneAndContinues) {
  const std::string text = "123456789";
  EXPECT_EQ(Crc32c(text.data(), text.size()), 0xE3069283u);
  EXPECT_EQ(Crc32c(text.data() + 4, 5, Crc32c(text.data(), 4)), 0xE3069283u);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

}  // namespace
}  // namespace bulwark::snapshot
