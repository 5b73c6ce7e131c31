// A parity holder's side of REFT-style coding: the m parity blocks of a protection group
// live on m nodes outside it, and each is the XOR of the k members' contributions
// (coefficient × shard). This store accumulates contributions chunk by chunk into a
// shared-memory file per version (<prefix>.<job>.g<group>.p<index>.s<step>, header first,
// so it outlives an agent restart), knows when every member's whole shard is in, and then
// seals it with a fragment header (the group's shard manifest and the parity's CRC).
//
// Rules that keep steps apart and memory bounded:
// - a chunk already received (a resend after a reconnect) is ignored, never XORed twice;
// - a member that sends a different shard for a step it already sent (a rerun that did not
//   reproduce its bytes) resets that version: its waiters are told to resend;
// - a new step T drops all but the newest sealed version older than T (members may be a
//   step apart, so newer versions stay);
// - the bytes held never exceed the budget: a version that would is refused and the older
//   version kept.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/status.h"
#include "snapshot/fragment.h"

namespace bulwark::snapshot {

struct ParityKey {
  std::string job;
  uint64_t step = 0;
  uint32_t group = 0;
  int index = 0;  // k..k+m-1
  bool operator<(const ParityKey& o) const {
    return std::tie(job, group, index, step) < std::tie(o.job, o.group, o.index, o.step);
  }
};

struct ContributionInfo {
  int k = 0, m = 0;
  int members = 0;  // data blocks that carry a shard (a short group pads the rest with zeros)
  int block = 0;    // the sender's data block
  ShardInfo shard;  // the sender's shard: owner rank, length, CRC32C
};

class ParityStore {
 public:
  ParityStore(std::string prefix, uint64_t budget_bytes);
  ~ParityStore();

  // Picks up sealed versions left by a previous run of the agent; drops unsealed ones.
  void Load();
  // XORs bytes [offset, offset + len) of a member's contribution into the parity block.
  Status Add(const ParityKey& key, const ContributionInfo& info, uint64_t offset, const uint8_t* data, size_t len);
  // Waits up to timeout_ms for the version to be sealed. Fails if this member's contribution
  // is incomplete, or the version was reset or dropped (the member should resend).
  Status WaitSealed(const ParityKey& key, const ContributionInfo& info, int timeout_ms);
  // Calls `read` with a sealed version's header and payload (kept alive during the call).
  Status Read(const ParityKey& key, const std::function<Status(const FragmentHeader&, const uint8_t*)>& read);

  uint64_t bytes_held() const;
  size_t sealed_versions() const;
  uint64_t budget() const { return budget_; }

  struct Version;

 private:
  std::shared_ptr<Version> Create(const ParityKey& key, const ContributionInfo& info, Status* error);
  // Drops the unsealed older versions of `newer`'s parity that still lack `block` (mutex held).
  void DropSuperseded(const ParityKey& newer, int block);
  void Drop(const ParityKey& key);
  void Seal(Version& v);

  std::string prefix_;
  uint64_t budget_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<ParityKey, std::shared_ptr<Version>> versions_;
  uint64_t held_ = 0;
};

}  // namespace bulwark::snapshot
