#include "trainer/state_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace bulwark::train {
namespace {

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = bulwark::testing::UniqueTempDir() + "/rank-0.state";
    a_ = {1, 2, 3, 4};
    b_ = std::vector<float>(1000, 0.5f);
    ASSERT_TRUE(WriteStateFile(path_, Ranges(a_, b_)).ok());
  }
  static std::vector<NamedRange> Ranges(std::vector<uint64_t>& a, std::vector<float>& b) {
    return {{"meta", a.data(), a.size() * 8}, {"weights", b.data(), b.size() * 4}};
  }
  std::string Bytes() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Overwrite(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  // Loading must fail with `expected` in the message and leave the targets untouched.
  void ExpectRejected(const std::string& expected) {
    std::vector<uint64_t> a(4, 9);
    std::vector<float> b(1000, 9.f);
    Status s = ReadStateFile(path_, Ranges(a, b));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
    EXPECT_EQ(a, std::vector<uint64_t>(4, 9));
    EXPECT_EQ(b, std::vector<float>(1000, 9.f));
  }
  std::string path_;
  std::vector<uint64_t> a_;
  std::vector<float> b_;
};

TEST_F(StateFileTest, RoundTrip) {
  std::vector<uint64_t> a(4);
  std::vector<float> b(1000);
  ASSERT_TRUE(ReadStateFile(path_, Ranges(a, b)).ok());
  EXPECT_EQ(a, a_);
  EXPECT_EQ(b, b_);
}

TEST_F(StateFileTest, TruncatedFileIsRejected) {
  Overwrite(Bytes().substr(0, Bytes().size() - 100));
  ExpectRejected("truncated");
}

TEST_F(StateFileTest, FlippedPayloadByteIsRejected) {
  std::string bytes = Bytes();
  bytes[bytes.size() - 50] ^= 0x40;
  Overwrite(bytes);
  ExpectRejected("range 'weights' is corrupted");
}

TEST_F(StateFileTest, BadMagicIsRejected) {
  std::string bytes = Bytes();
  bytes[0] = 'X';
  Overwrite(bytes);
  ExpectRejected("not a Bulwark state file");
}

TEST_F(StateFileTest, MismatchedLayoutIsRejected) {
  std::vector<uint64_t> a(4);
  std::vector<float> b(999);
  Status s = ReadStateFile(path_, Ranges(a, b));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("expected 'weights' of 3996 bytes"), std::string::npos) << s.message();
}

TEST_F(StateFileTest, TrailingGarbageIsRejected) {
  Overwrite(Bytes() + "junk");
  ExpectRejected("unexpected bytes after the trailer");
}

TEST_F(StateFileTest, MissingFileIsRejected) {
  path_ += ".missing";
  ExpectRejected("cannot open state file");
}

TEST_F(StateFileTest, OneRangeIsReadAloneAndVerified) {
  std::vector<uint64_t> a(4);
  ASSERT_TRUE(ReadStateFileRange(path_, {"meta", a.data(), a.size() * 8}).ok());
  EXPECT_EQ(a, a_);

  Status missing = ReadStateFileRange(path_, {"adam_m", a.data(), a.size() * 8});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("holds no range 'adam_m'"), std::string::npos) << missing.message();
  Status wrong_size = ReadStateFileRange(path_, {"meta", a.data(), 16});
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_NE(wrong_size.message().find("range 'meta' is 32 bytes; expected 16"), std::string::npos) << wrong_size.message();

  // Its own bytes corrupted: refused, and the target keeps what it held.
  std::string bytes = Bytes();
  bytes[bytes.find(std::string(reinterpret_cast<const char*>(a_.data()), 32))] ^= 0x01;
  Overwrite(bytes);
  std::vector<uint64_t> kept(4, 9);
  Status corrupted = ReadStateFileRange(path_, {"meta", kept.data(), kept.size() * 8});
  ASSERT_FALSE(corrupted.ok());
  EXPECT_NE(corrupted.message().find("range 'meta' is corrupted"), std::string::npos) << corrupted.message();
  EXPECT_EQ(kept, std::vector<uint64_t>(4, 9));
}

TEST_F(StateFileTest, ACorruptedHeaderIsRejected) {
  std::string bytes = Bytes();
  bytes[bytes.find("weights")] = 'W';  // a range renamed: the trailer no longer matches
  Overwrite(bytes);
  std::vector<uint64_t> a(4, 9);
  std::vector<float> b(1000, 9.f);
  Status s = ReadStateFile(path_, {{"meta", a.data(), 32}, {"Weights", b.data(), 4000}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("header is corrupted"), std::string::npos) << s.message();
  EXPECT_EQ(b, std::vector<float>(1000, 9.f));
}

}  // namespace
}  // namespace bulwark::train
