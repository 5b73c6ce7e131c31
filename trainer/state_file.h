// A rank's complete training state as a list of named byte ranges, and a local file
// format for it. The same list is what the snapshot client (issue 5) copies into the
// agent's shared memory, so the trainer exposes its state once, in one shape.
//
// File layout (little-endian): "BWSTATE\0", u32 version, u32 range count, then per range
// { u32 name length, name bytes, u64 byte count, u64 Digest64 of the bytes }, then the
// bytes of every range in order, then u64 Digest64 of everything before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace bulwark::train {

struct NamedRange {
  std::string name;
  void* data = nullptr;
  size_t bytes = 0;
};

// Written to a temporary file, fsynced and renamed: a crash never leaves a torn file.
Status WriteStateFile(const std::string& path, const std::vector<NamedRange>& ranges);

// Reads into the given ranges, which must match the file's names and sizes exactly.
// Everything is verified (names, sizes, per-range and whole-file digests) before any byte
// of the ranges is overwritten, so a bad file changes nothing.
Status ReadStateFile(const std::string& path, const std::vector<NamedRange>& ranges);

// The names and byte counts a state file's header lists, unverified: enough to size the
// ranges for ReadStateFile, which verifies everything.
Result<std::vector<std::pair<std::string, uint64_t>>> StateFileLayout(const std::string& path);

// Reads one named range (its size must match), verified like ReadStateFile but without
// reading the others: enough to learn a saved state's meta from a file of hundreds of MB.
Status ReadStateFileRange(const std::string& path, const NamedRange& range);

}  // namespace bulwark::train
