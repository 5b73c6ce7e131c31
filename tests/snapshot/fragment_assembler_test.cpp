#include "snapshot/fragment_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "snapshot/erasure_code.h"

namespace bulwark::snapshot {
namespace {

struct Fixture {
  std::vector<uint8_t> payload;
  FragmentHeader header;
};

Fixture Make(size_t bytes) {
  Fixture f;
  f.payload.resize(bytes);
  std::iota(f.payload.begin(), f.payload.end(), 0);
  f.header.job = "job-1";
  f.header.step = 12;
  f.header.group = 2;
  f.header.index = 4;
  f.header.k = 4;
  f.header.m = 2;
  f.header.fragment_bytes = bytes;
  f.header.fragment_crc = Crc32c(f.payload.data(), bytes);
  f.header.shards = std::vector<ShardInfo>(4);
  return f;
}

TEST(FragmentAssemblerTest, ChunksInAnyOrderWithRepeatsBecomeTheCheckedPayload) {
  Fixture f = Make(10000);
  FragmentAssembler a(f.header);
  std::vector<uint64_t> offsets;
  for (uint64_t o = 0; o < 10000; o += 1000) offsets.push_back(o);
  std::mt19937 rng(3);
  std::shuffle(offsets.begin(), offsets.end(), rng);
  for (uint64_t o : offsets) {
    ASSERT_TRUE(a.Add(KeyOf(f.header), o, f.payload.data() + o, 1000).ok());
    ASSERT_TRUE(a.Add(KeyOf(f.header), o, f.payload.data() + o, 1000).ok()) << "a resend after a reconnect";
  }
  EXPECT_TRUE(a.complete());
  auto out = a.Finish();
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(std::equal(out->begin(), out->end(), f.payload.begin(), f.payload.end()));
}

TEST(FragmentAssemblerTest, ChunksOfAnotherStepOrFragmentAreRefusedAndNothingMixes) {
  Fixture f = Make(4096);
  FragmentAssembler a(f.header);
  ChunkKey other = KeyOf(f.header);
  other.step = 13;
  EXPECT_EQ(a.Add(other, 0, f.payload.data(), 100).message(),
            "chunk of job job-1 step 13 group 2 fragment 4 sent to the assembly of job job-1 step 12 group 2 fragment 4");
  other = KeyOf(f.header);
  other.index = 5;
  EXPECT_FALSE(a.Add(other, 0, f.payload.data(), 100).ok());
  EXPECT_EQ(a.received(), 0u);
  EXPECT_EQ(a.Add(KeyOf(f.header), 4000, f.payload.data(), 200).message(),
            "chunk [4000, +200) is outside job job-1 step 12 group 2 fragment 4 of 4096 bytes");
}

TEST(FragmentAssemblerTest, OverlapsConflictsGapsAndCorruptionAreNamed) {
  Fixture f = Make(4096);
  FragmentAssembler a(f.header);
  ASSERT_TRUE(a.Add(KeyOf(f.header), 0, f.payload.data(), 2048).ok());
  EXPECT_EQ(a.Add(KeyOf(f.header), 1024, f.payload.data() + 1024, 2048).message(),
            "chunk at 1024 of job job-1 step 12 group 2 fragment 4 overlaps one already received");
  std::vector<uint8_t> wrong(f.payload.begin(), f.payload.begin() + 2048);
  wrong[7] ^= 1;
  EXPECT_EQ(a.Add(KeyOf(f.header), 0, wrong.data(), 2048).message(),
            "chunk at 0 of job job-1 step 12 group 2 fragment 4 arrived twice with different bytes");
  EXPECT_EQ(a.Finish().status().message(), "job job-1 step 12 group 2 fragment 4 is incomplete: 2048 of 4096 bytes");
  // The rest arrives, but one byte was flipped on the way: the fragment CRC catches it.
  std::vector<uint8_t> tail(f.payload.begin() + 2048, f.payload.end());
  tail[100] ^= 0x40;
  ASSERT_TRUE(a.Add(KeyOf(f.header), 2048, tail.data(), tail.size()).ok());
  EXPECT_EQ(a.Finish().status().message(), "fragment 4 of group 2, step 12: payload checksum mismatch (corrupted)");
}

}  // namespace
}  // namespace bulwark::snapshot
