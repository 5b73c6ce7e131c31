#include "snapshot/node_shard.h"

#include <algorithm>
#include <cstring>

#include "snapshot/erasure_code.h"

namespace bulwark::snapshot {
namespace {

constexpr uint64_t kShardMagic = 0x4853454f444e5742ull;  // "BWNODESH"
constexpr size_t kHeadBytes = 24;                       // magic, step, count, reserved
constexpr size_t kEntryBytes = 16;                      // rank, reserved, bytes

template <typename T>
void Put(std::vector<uint8_t>* out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->insert(out->end(), b, b + sizeof(T));
}

template <typename T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

NodeShard::NodeShard(uint64_t step, std::vector<RankPiece> pieces) : pieces_(std::move(pieces)) {
  std::sort(pieces_.begin(), pieces_.end(), [](const RankPiece& a, const RankPiece& b) { return a.rank < b.rank; });
  Put<uint64_t>(&head_, kShardMagic);
  Put<uint64_t>(&head_, step);
  Put<uint32_t>(&head_, static_cast<uint32_t>(pieces_.size()));
  Put<uint32_t>(&head_, 0);
  size_ = kHeadBytes + pieces_.size() * kEntryBytes;
  for (const auto& p : pieces_) {
    Put<int32_t>(&head_, p.rank);
    Put<uint32_t>(&head_, 0);
    Put<uint64_t>(&head_, p.bytes);
    size_ += p.bytes;
  }
}

void NodeShard::Read(uint64_t offset, uint8_t* out, size_t len) const {
  uint64_t at = 0;  // where the current piece starts in the shard
  auto copy = [&](const uint8_t* src, uint64_t src_len) {
    const uint64_t end = at + src_len;
    if (len > 0 && offset < end && offset + len > at) {
      const uint64_t from = std::max(offset, at);
      const uint64_t to = std::min<uint64_t>(offset + len, end);
      std::memcpy(out + (from - offset), src + (from - at), to - from);
    }
    at = end;
  };
  copy(head_.data(), head_.size());
  for (const auto& p : pieces_) copy(p.data, p.bytes);
}

uint32_t NodeShard::Crc() const {
  uint32_t crc = Crc32c(head_.data(), head_.size());
  for (const auto& p : pieces_) crc = Crc32c(p.data, p.bytes, crc);
  return crc;
}

Result<std::vector<ShardPiece>> ParseNodeShard(const uint8_t* data, size_t bytes, uint64_t step) {
  if (bytes < kHeadBytes) return Status::Error("node shard of " + std::to_string(bytes) + " bytes is shorter than its table");
  if (Get<uint64_t>(data) != kShardMagic) return Status::Error("not a node shard (bad magic)");
  if (Get<uint64_t>(data + 8) != step) {
    return Status::Error("node shard holds step " + std::to_string(Get<uint64_t>(data + 8)) + ", not " + std::to_string(step));
  }
  const uint32_t count = Get<uint32_t>(data + 16);
  if (count > (bytes - kHeadBytes) / kEntryBytes) return Status::Error("node shard table of " + std::to_string(count) + " ranks is truncated");
  std::vector<ShardPiece> out;
  uint64_t offset = kHeadBytes + static_cast<uint64_t>(count) * kEntryBytes;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = data + kHeadBytes + i * kEntryBytes;
    ShardPiece p{Get<int32_t>(e), offset, Get<uint64_t>(e + 8)};
    if (p.bytes > bytes - offset) return Status::Error("node shard: rank " + std::to_string(p.rank) + "'s slot runs past the shard");
    offset += p.bytes;
    out.push_back(p);
  }
  return out;
}

}  // namespace bulwark::snapshot
