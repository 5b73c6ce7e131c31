// Reed–Solomon erasure coding over GF(2^8) with ISA-L, from a Cauchy generator matrix (every
// k×k sub-matrix invertible, so any k of the k+m fragments rebuild the data). Fragment
// i < k is data block i itself; fragments k..k+m-1 are parity.
//
// Besides encoding all k blocks at once, a single data block's contribution can be folded
// into the parity (AccumulateParity): that is how Bulwark codes across nodes, each node
// adding its own shard, so that shards never travel whole (see README "Snapshots").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

class ErasureCode {
 public:
  // 1 <= k, 1 <= m, k + m <= 255.
  static Result<ErasureCode> Create(int k, int m);

  int k() const { return k_; }
  int m() const { return m_; }

  // parity[0..m) = code of data[0..k), each block `len` bytes.
  void Encode(const uint8_t* const* data, size_t len, uint8_t* const* parity) const;
  // parity[j] ^= (coefficient j, data_index) × data, for every j: parity starts zeroed and is
  // complete once all k blocks were folded in, in any order.
  void AccumulateParity(int data_index, const uint8_t* data, size_t len, uint8_t* const* parity) const;
  // out = (coefficient of parity row `parity_row`, data_index) × data: what one data block
  // adds (XORs) to one parity block. A node computes this for each parity holder and sends
  // it; the holder XORs the k contributions together.
  void Contribution(int parity_row, int data_index, const uint8_t* data, size_t len, uint8_t* out) const;
  // Rebuilds data blocks `wanted` (indices < k) from k fragments: `present[i]` holds fragment
  // `present_index[i]` (distinct, < k + m). Fails, naming why, if that cannot be done.
  Status Decode(const std::vector<int>& present_index, const uint8_t* const* present, size_t len,
                const std::vector<int>& wanted, uint8_t* const* out) const;

 private:
  ErasureCode(int k, int m);
  int k_, m_;
  std::vector<uint8_t> matrix_;  // (k+m) × k
  std::vector<uint8_t> parity_tables_;  // ISA-L tables for the m parity rows
};

// CRC32C (ISA-L's crc32_iscsi), the checksum of fragments and shards.
uint32_t Crc32c(const void* data, size_t len, uint32_t seed = 0);

}  // namespace bulwark::snapshot
