#include "snapshot/fragment.h"

#include <gtest/gtest.h>

#include "snapshot/erasure_code.h"

namespace bulwark::snapshot {
namespace {

FragmentHeader Sample() {
  FragmentHeader h;
  h.job = "job-000042";
  h.step = 1234;
  h.group = 3;
  h.index = 5;
  h.k = 4;
  h.m = 2;
  h.fragment_bytes = 4096;
  h.fragment_crc = 0xdeadbeef;
  h.shards = {{0, 4096, 1}, {1, 4000, 2}, {2, 12, 3}, {-1, 0, 0}};
  return h;
}

TEST(FragmentTest, HeadersRoundTrip) {
  auto bytes = SerializeHeader(Sample());
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  ASSERT_EQ(bytes->size(), kFragmentHeaderBytes);
  auto back = ParseHeader(bytes->data(), bytes->size());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, Sample());
}

TEST(FragmentTest, TruncatedCorruptedAndForeignHeadersAreRefusedWithTheReason) {
  auto bytes = SerializeHeader(Sample()).value();
  EXPECT_EQ(ParseHeader(bytes.data(), 100).status().message(), "fragment header truncated: 100 of 640 bytes");
  for (size_t at : {size_t{8}, size_t{50}, size_t{200}, kFragmentHeaderBytes - 1}) {
    auto bad = bytes;
    bad[at] ^= 0x01;
    EXPECT_EQ(ParseHeader(bad.data(), bad.size()).status().message(),
              "fragment header checksum mismatch: the header is corrupted")
        << "byte " << at;
  }
  auto magic = bytes;
  magic[0] = 'X';
  EXPECT_EQ(ParseHeader(magic.data(), magic.size()).status().message(), "not a Bulwark fragment (bad magic)");
  auto version = bytes;
  version[4] = 9;
  EXPECT_EQ(ParseHeader(version.data(), version.size()).status().message(),
            "fragment version 9, this build reads version 1");
}

TEST(FragmentTest, HeadersThatCouldNotBeReadBackAreNotWritten) {
  FragmentHeader h = Sample();
  h.job = std::string(40, 'j');
  EXPECT_NE(SerializeHeader(h).status().message().find("longer than 31 bytes"), std::string::npos);
  h = Sample();
  h.index = 6;
  EXPECT_EQ(SerializeHeader(h).status().message(), "fragment index 6 outside RS(4,2)");
  h = Sample();
  h.shards.pop_back();
  EXPECT_EQ(SerializeHeader(h).status().message(), "a fragment of RS(4,2) lists 3 shards, not 4");
  h = Sample();
  h.k = 40;
  EXPECT_FALSE(SerializeHeader(h).ok());
}

TEST(FragmentTest, PayloadsAreCheckedAgainstTheirHeader) {
  std::vector<uint8_t> payload(4096, 7);
  FragmentHeader h = Sample();
  h.fragment_crc = Crc32c(payload.data(), payload.size());
  EXPECT_TRUE(CheckPayload(h, payload.data(), payload.size()).ok());
  EXPECT_EQ(CheckPayload(h, payload.data(), 4095).message(),
            "fragment 5 of group 3, step 1234: payload of 4095 bytes, header says 4096");
  payload[1000] ^= 0x80;
  EXPECT_EQ(CheckPayload(h, payload.data(), payload.size()).message(),
            "fragment 5 of group 3, step 1234: payload checksum mismatch (corrupted)");
}

}  // namespace
}  // namespace bulwark::snapshot
