// A fast, non-cryptographic 64-bit digest of a byte range.
// Used to fingerprint configs and to print one hash of all parameters per step, so it
// must be fast (hundreds of MB per step) and identical on every machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark {

uint64_t Digest64(const void* data, size_t bytes, uint64_t seed = 0);
inline uint64_t Digest64(std::string_view s, uint64_t seed = 0) {
  return Digest64(s.data(), s.size(), seed);
}

// 16 lowercase hex digits.
std::string Hex64(uint64_t value);

}  // namespace bulwark
