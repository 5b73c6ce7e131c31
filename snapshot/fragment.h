// A fragment as it is stored and sent: a fixed-size header, then the payload. The header
// names what the fragment is (job, step, group, index within RS(k,m)) and carries, for every
// data block of its group, which rank's shard it holds, the shard's true length and its
// CRC32C: whoever rebuilds a lost shard from any k fragments can check every byte of it
// without asking anyone. The header has its own CRC; the payload has one too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

constexpr uint32_t kFragmentMagic = 0x47465742;  // "BWFG" little-endian
constexpr uint16_t kFragmentVersion = 1;
constexpr size_t kFragmentHeaderBytes = 640;
constexpr int kMaxGroupData = 32;  // k at most: the group manifest lives in the header

// What one data block of a group holds.
struct ShardInfo {
  int32_t rank = -1;   // the shard's owner; -1 for a block that only pads a short group
  uint64_t bytes = 0;  // the shard's length (the block is zero-padded to the group's length)
  uint32_t crc = 0;    // CRC32C of those bytes
  bool operator==(const ShardInfo&) const = default;
};

struct FragmentHeader {
  std::string job;  // at most 31 bytes
  uint64_t step = 0;
  uint32_t group = 0;
  int index = 0;  // 0..k-1 data, k..k+m-1 parity
  int k = 0, m = 0;
  uint64_t fragment_bytes = 0;  // payload length: the group's block length
  uint32_t fragment_crc = 0;    // CRC32C of the payload
  std::vector<ShardInfo> shards;  // k entries
  bool operator==(const FragmentHeader&) const = default;
};

// kFragmentHeaderBytes bytes; fails only on a header that could never be read back.
Result<std::vector<uint8_t>> SerializeHeader(const FragmentHeader& header);
// Checks everything it can (size, magic, version, header CRC, k, m, index); the error says
// what was wrong.
Result<FragmentHeader> ParseHeader(const uint8_t* bytes, size_t size);
// The payload against its header: length and CRC.
Status CheckPayload(const FragmentHeader& header, const uint8_t* payload, size_t size);

}  // namespace bulwark::snapshot
