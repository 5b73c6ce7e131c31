// A node's shard: what its data block in a protection group holds for one step. It is the
// committed slot object of every rank on the node, in rank order, behind a small table
// (magic, step, and each rank's number and length). The agent never builds it in memory:
// Read copies any byte range of the concatenation straight out of the ranks' slots, so
// coding and serving stream from the trainer's shared memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

struct RankPiece {
  int rank = 0;
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
};

class NodeShard {
 public:
  NodeShard(uint64_t step, std::vector<RankPiece> pieces);
  uint64_t size() const { return size_; }
  // Copies bytes [offset, offset + len) into out; the range must lie inside size().
  void Read(uint64_t offset, uint8_t* out, size_t len) const;
  uint32_t Crc() const;
  const std::vector<RankPiece>& pieces() const { return pieces_; }

 private:
  std::vector<uint8_t> head_;
  std::vector<RankPiece> pieces_;
  uint64_t size_ = 0;
};

// Where each rank's slot object lies inside a shard's bytes (which may be zero-padded past
// the shard's end). Checks the table against `step` and the length; errors say what is off.
struct ShardPiece {
  int rank = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};
Result<std::vector<ShardPiece>> ParseNodeShard(const uint8_t* data, size_t bytes, uint64_t step);

}  // namespace bulwark::snapshot
