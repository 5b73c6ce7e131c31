// Receiving a fragment in chunks, as the data plane delivers them: chunks may arrive in any
// order, again after a reconnect, or belong to another step or fragment by mistake. The
// assembler takes the fragment's header first, then chunks (offset, bytes), refuses a chunk
// of another job/step/group/index or one out of bounds, ignores exact repeats, and when every
// byte is in checks the payload against the header's CRC. Pure: memory in, verdicts out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "common/huge_page_allocator.h"
#include "common/status.h"
#include "snapshot/fragment.h"

namespace bulwark::snapshot {

// Names the fragment a chunk belongs to; sent with every chunk so steps are never mixed.
struct ChunkKey {
  std::string job;
  uint64_t step = 0;
  uint32_t group = 0;
  int index = 0;
  bool operator==(const ChunkKey&) const = default;
};

ChunkKey KeyOf(const FragmentHeader& h);

class FragmentAssembler {
 public:
  explicit FragmentAssembler(FragmentHeader header);

  // Adds bytes [offset, offset + size) of the payload.
  Status Add(const ChunkKey& key, uint64_t offset, const uint8_t* data, size_t size);
  bool complete() const { return received_ == header_.fragment_bytes; }
  uint64_t received() const { return received_; }
  // Once complete: the payload, checked against the header's CRC.
  Result<HugeVector<uint8_t>> Finish();

  const FragmentHeader& header() const { return header_; }

 private:
  FragmentHeader header_;
  HugeVector<uint8_t> payload_;  // first touch of whole shards is costly: huge pages
  std::map<uint64_t, uint64_t> ranges_;  // start -> end of what has arrived, disjoint
  uint64_t received_ = 0;
};

}  // namespace bulwark::snapshot
