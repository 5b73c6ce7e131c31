// The agent's side of one rank's snapshot memory (the trainer's SnapshotClient writes it):
// which step is committed, a read-only view of a complete slot, the slot's CRC32C computed
// off the trainer's stall, releasing the older slot once the committed step is protected
// cluster-wide, and installing a slot rebuilt from peers as the committed version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

struct SlotBytes {
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

class RankSlots {
 public:
  // Opens existing snapshot memory only; an error names what is missing or damaged.
  static Result<std::unique_ptr<RankSlots>> Open(const std::string& prefix, const std::string& job, int rank);
  ~RankSlots();

  int rank() const { return rank_; }
  int world_size() const;
  // The committed step, if any.
  std::optional<uint64_t> Committed() const;
  // The steps of its complete slots (at most two), oldest first.
  std::vector<uint64_t> Steps() const;
  // True when a complete slot holds `step`.
  bool Holds(uint64_t step) const;
  // The complete slot holding `step`, mapped read-only; valid until the next call.
  Result<SlotBytes> View(uint64_t step);
  // CRC32C of that slot, computed once and recorded where the client's restore checks it.
  Result<uint32_t> Checksum(uint64_t step);
  // From now on the client keeps the older slot until Release says it may go.
  void Manage();
  // `step` is protected cluster-wide: older versions may be overwritten.
  void Release(uint64_t step);
  // `step` will never be protected (the job moved on without it): the client may overwrite it.
  void Abandon(uint64_t step);

  // Writes `bytes` (a slot object, as a peer rebuilt it) as rank `rank`'s committed `step`,
  // recording `crc`; a newer leftover version is dropped.
  static Status Install(const std::string& prefix, const std::string& job, int rank, int world_size, uint64_t step,
                        const uint8_t* data, size_t bytes, uint32_t crc);

 private:
  RankSlots() = default;
  int FindComplete(uint64_t step) const;
  std::string base_;
  int rank_ = 0;
  int control_fd_ = -1;
  void* control_ = nullptr;
  int slot_fd_[2] = {-1, -1};
  void* slot_map_[2] = {nullptr, nullptr};
  size_t slot_len_[2] = {0, 0};
};

// The (job, rank) pairs with snapshot memory under `prefix` in /dev/shm.
std::vector<std::pair<std::string, int>> FindRanks(const std::string& prefix);

}  // namespace bulwark::snapshot
