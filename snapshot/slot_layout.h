// The shared-memory layout of one rank's snapshot memory, shared by the trainer's client
// (which writes slots) and the agent's view of them (which checksums, protects, releases
// and installs them). Internal to the snapshot library.
//
// <prefix>.<job>.r<rank>.ctl: the control block below. <prefix>.<job>.r<rank>.{a,b}: two
// slot objects, each a manifest (header, entries, names) followed by the buffers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bulwark::snapshot::layout {

constexpr uint64_t kControlMagic = 0x4c54435350414e53ull;   // "SNAPSCTL"
constexpr uint64_t kManifestMagic = 0x54534e4d50414e53ull;  // "SNAPMNST"
constexpr uint32_t kVersion = 2;
constexpr size_t kControlBytes = 4096;
constexpr size_t kAlign = 64;

enum SlotState : uint32_t { kEmpty = 0, kWriting = 1, kComplete = 2 };

struct SlotInfo {
  uint64_t step;
  uint64_t bytes;  // of the slot object in use
  uint32_t buffers;
  uint32_t state;  // SlotState
  // Written by the agent, off the trainer's stall: CRC32C of the whole slot object while
  // it holds step crc_step - 1 (0: not computed). The client clears it before rewriting.
  std::atomic<uint64_t> crc_step;
  uint32_t crc;
  uint32_t pad;
};

struct ControlBlock {
  uint64_t magic;
  uint32_t version;
  int32_t world_size;  // the job's ranks, as the trainer said (0: unknown)
  std::atomic<uint32_t> committed;  // 0: none; 1 + slot index
  // Set by an agent that protects this rank's snapshots: the client then overwrites the
  // older slot only once the committed step is protected cluster-wide (released).
  std::atomic<uint32_t> managed;
  std::atomic<uint64_t> released;  // 1 + the newest step protected cluster-wide; 0: none
  // 1 + a committed step the agent says can never be protected (another rank skipped it and
  // moved on): the client may overwrite it instead of waiting. 0: none.
  std::atomic<uint64_t> abandoned;
  SlotInfo slot[2];
};
static_assert(sizeof(ControlBlock) <= kControlBytes);

struct ManifestHeader {
  uint64_t magic;
  uint64_t step;
  uint32_t count;
  uint32_t names_bytes;
  uint64_t data_offset;
  uint64_t total_bytes;
};

struct ManifestEntry {
  uint64_t offset;  // from the start of the slot object
  uint64_t bytes;
  uint32_t name_offset;  // into the names blob
  uint32_t name_len;
};

inline std::string RankBase(const std::string& prefix, const std::string& job, int rank) {
  return "/" + prefix + "." + job + ".r" + std::to_string(rank);
}
inline std::string SlotSuffix(int s) { return s == 0 ? ".a" : ".b"; }

}  // namespace bulwark::snapshot::layout
