// The trainer's side of snapshots: hand over named buffers for a step, commit, and later
// restore them. The state goes into shared memory the local agent owns and that outlives
// the trainer process, double-buffered: two slots per rank and a control block naming the
// committed one. A commit copies the buffers into the other slot and then flips the control
// block's "committed" word with one atomic store, so a crash at any point of the copy leaves
// the previous version whole and restorable. The copy is the trainer's only stall.
//
// Names: <prefix>.<job>.r<rank>.{ctl,a,b} in /dev/shm, the prefix from
// $BULWARK_SNAPSHOT_PREFIX (default "bulwark"; the agent sets its own). The plain C ABI over
// this is bulwark_snapshot.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

class SnapshotClient {
 public:
  // Opens (creating if needed) the rank's snapshot memory. `world_size` (0: unknown) tells
  // the agent how many ranks the job has. `budget_bytes` caps one slot (0: no cap): a
  // snapshot larger than that is refused and the previous one kept.
  static Result<std::unique_ptr<SnapshotClient>> Open(const std::string& prefix, const std::string& job, int rank,
                                                      int world_size = 0, uint64_t budget_bytes = 0);
  ~SnapshotClient();

  // Starts a snapshot of `step`; Add only records where the bytes are (no copy yet).
  Status Begin(uint64_t step);
  Status Add(const std::string& name, const void* data, size_t bytes);
  // Copies every added buffer into the free slot and makes it the committed one. When an
  // agent protects this rank, the older slot is overwritten only after the agent released
  // it (the committed step is protected cluster-wide); the wait is bounded by
  // $BULWARK_SNAPSHOT_WAIT_MS (default 30000), after which the snapshot is refused and both
  // versions kept.
  Status Commit();

  // The newest committed step, if any.
  std::optional<uint64_t> Latest() const;
  // Copies buffer `name` of committed step `step` into `out` (`bytes` must match). When the
  // agent recorded the slot's checksum, the slot is verified first.
  Status Restore(uint64_t step, const std::string& name, void* out, size_t bytes) const;
  // After restoring `step`: makes it the committed version and forgets a newer one (a
  // version the job rolled back over must not be mistaken for progress).
  Status RollBackTo(uint64_t step);
  // Forgets every version (a job starting over from scratch).
  void Discard();
  // The names and sizes in committed step `step`.
  Result<std::vector<std::pair<std::string, uint64_t>>> List(uint64_t step) const;

  // Removes the rank's snapshot memory (the agent does this when a job ends).
  static void Remove(const std::string& prefix, const std::string& job, int rank);

 private:
  struct Impl;
  explicit SnapshotClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bulwark::snapshot
