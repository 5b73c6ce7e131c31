#include "snapshot/erasure_code.h"

#include <isa-l/crc.h>
#include <isa-l/erasure_code.h>

#include <set>
#include <string>

namespace bulwark::snapshot {

Result<ErasureCode> ErasureCode::Create(int k, int m) {
  if (k < 1 || m < 1 || k + m > 255) {
    return Status::Error("erasure code RS(" + std::to_string(k) + "," + std::to_string(m) +
                         ") is not possible: need k >= 1, m >= 1 and k + m <= 255");
  }
  return ErasureCode(k, m);
}

ErasureCode::ErasureCode(int k, int m)
    : k_(k), m_(m), matrix_(static_cast<size_t>((k + m) * k)), parity_tables_(static_cast<size_t>(32 * k * m)) {
  gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
  ec_init_tables(k, m, &matrix_[static_cast<size_t>(k * k)], parity_tables_.data());
}

void ErasureCode::Encode(const uint8_t* const* data, size_t len, uint8_t* const* parity) const {
  ec_encode_data(static_cast<int>(len), k_, m_, const_cast<unsigned char*>(parity_tables_.data()),
                 const_cast<unsigned char**>(data), const_cast<unsigned char**>(parity));
}

void ErasureCode::AccumulateParity(int data_index, const uint8_t* data, size_t len, uint8_t* const* parity) const {
  ec_encode_data_update(static_cast<int>(len), k_, m_, data_index, const_cast<unsigned char*>(parity_tables_.data()),
                        const_cast<unsigned char*>(data), const_cast<unsigned char**>(parity));
}

void ErasureCode::Contribution(int parity_row, int data_index, const uint8_t* data, size_t len, uint8_t* out) const {
  unsigned char coefficient = matrix_[static_cast<size_t>((k_ + parity_row) * k_ + data_index)];
  unsigned char tables[32];
  ec_init_tables(1, 1, &coefficient, tables);
  auto* src = const_cast<unsigned char*>(data);
  ec_encode_data(static_cast<int>(len), 1, 1, tables, &src, &out);
}

Status ErasureCode::Decode(const std::vector<int>& present_index, const uint8_t* const* present, size_t len,
                           const std::vector<int>& wanted, uint8_t* const* out) const {
  if (static_cast<int>(present_index.size()) != k_) {
    return Status::Error("decoding RS(" + std::to_string(k_) + "," + std::to_string(m_) + ") needs exactly " +
                         std::to_string(k_) + " fragments, got " + std::to_string(present_index.size()));
  }
  std::set<int> seen;
  for (int i : present_index) {
    if (i < 0 || i >= k_ + m_ || !seen.insert(i).second) {
      return Status::Error("fragment index " + std::to_string(i) + " is out of range or repeated");
    }
  }
  for (int w : wanted) {
    if (w < 0 || w >= k_) return Status::Error("wanted block " + std::to_string(w) + " is not a data block");
  }
  if (wanted.empty()) return Status::Ok();
  // Rows of the generator for the fragments at hand, inverted: row d of the inverse turns
  // the present fragments back into data block d.
  std::vector<uint8_t> rows(static_cast<size_t>(k_ * k_)), inverse(static_cast<size_t>(k_ * k_));
  for (int r = 0; r < k_; ++r) {
    for (int c = 0; c < k_; ++c) rows[static_cast<size_t>(r * k_ + c)] = matrix_[static_cast<size_t>(present_index[r] * k_ + c)];
  }
  if (gf_invert_matrix(rows.data(), inverse.data(), k_) != 0) {
    return Status::Error("the chosen fragments do not determine the data (singular matrix)");
  }
  std::vector<uint8_t> decode(static_cast<size_t>(wanted.size()) * k_);
  for (size_t w = 0; w < wanted.size(); ++w) {
    for (int c = 0; c < k_; ++c) decode[w * k_ + c] = inverse[static_cast<size_t>(wanted[w] * k_ + c)];
  }
  std::vector<uint8_t> tables(32 * static_cast<size_t>(k_) * wanted.size());
  ec_init_tables(k_, static_cast<int>(wanted.size()), decode.data(), tables.data());
  ec_encode_data(static_cast<int>(len), k_, static_cast<int>(wanted.size()), tables.data(),
                 const_cast<unsigned char**>(present), const_cast<unsigned char**>(out));
  return Status::Ok();
}

uint32_t Crc32c(const void* data, size_t len, uint32_t seed) {
  // ISA-L leaves out CRC32C's initial and final inversion; doing them here gives the
  // standard value (0xE3069283 for "123456789") and lets a CRC continue from a previous one.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t raw = ~seed;
  constexpr size_t kChunk = size_t{1} << 30;  // its length parameter is an int
  while (len > 0) {
    const size_t n = len < kChunk ? len : kChunk;
    raw = crc32_iscsi(p, static_cast<int>(n), raw);
    p += n;
    len -= n;
  }
  return ~raw;
}

}  // namespace bulwark::snapshot
