#include "snapshot/fragment_assembler.h"

#include <cstring>

namespace bulwark::snapshot {
namespace {

std::string Describe(const ChunkKey& k) {
  return "job " + k.job + " step " + std::to_string(k.step) + " group " + std::to_string(k.group) + " fragment " +
         std::to_string(k.index);
}

}  // namespace

ChunkKey KeyOf(const FragmentHeader& h) { return {h.job, h.step, h.group, h.index}; }

FragmentAssembler::FragmentAssembler(FragmentHeader header)
    : header_(std::move(header)), payload_(header_.fragment_bytes) {}

Status FragmentAssembler::Add(const ChunkKey& key, uint64_t offset, const uint8_t* data, size_t size) {
  const ChunkKey mine = KeyOf(header_);
  if (!(key == mine)) return Status::Error("chunk of " + Describe(key) + " sent to the assembly of " + Describe(mine));
  if (offset > header_.fragment_bytes || size > header_.fragment_bytes - offset) {
    return Status::Error("chunk [" + std::to_string(offset) + ", +" + std::to_string(size) + ") is outside " +
                         Describe(mine) + " of " + std::to_string(header_.fragment_bytes) + " bytes");
  }
  if (size == 0) return Status::Ok();
  const uint64_t end = offset + size;
  // Overlap with what arrived: an exact repeat (a resend after a reconnect) must carry the
  // same bytes; a partial overlap means the sender's chunking changed mid-fragment.
  auto next = ranges_.upper_bound(offset);
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->second > offset) {
      if (prev->first <= offset && prev->second >= end) {
        if (std::memcmp(payload_.data() + offset, data, size) != 0) {
          return Status::Error("chunk at " + std::to_string(offset) + " of " + Describe(mine) +
                               " arrived twice with different bytes");
        }
        return Status::Ok();
      }
      return Status::Error("chunk at " + std::to_string(offset) + " of " + Describe(mine) + " overlaps one already received");
    }
  }
  if (next != ranges_.end() && next->first < end) {
    return Status::Error("chunk at " + std::to_string(offset) + " of " + Describe(mine) + " overlaps one already received");
  }
  std::memcpy(payload_.data() + offset, data, size);
  received_ += size;
  // Merge with neighbours so the map stays small for in-order streams.
  uint64_t start = offset, stop = end;
  auto it = ranges_.lower_bound(offset);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second == start) {
      start = prev->first;
      ranges_.erase(prev);
    }
  }
  it = ranges_.find(stop);
  if (it != ranges_.end()) {
    stop = it->second;
    ranges_.erase(it);
  }
  ranges_[start] = stop;
  return Status::Ok();
}

Result<HugeVector<uint8_t>> FragmentAssembler::Finish() {
  if (!complete()) {
    return Status::Error(Describe(KeyOf(header_)) + " is incomplete: " + std::to_string(received_) + " of " +
                         std::to_string(header_.fragment_bytes) + " bytes");
  }
  if (Status s = CheckPayload(header_, payload_.data(), payload_.size()); !s.ok()) return s;
  return std::move(payload_);
}

}  // namespace bulwark::snapshot
