#include "snapshot/fragment.h"

#include <cstring>

#include "snapshot/erasure_code.h"

namespace bulwark::snapshot {
namespace {

constexpr size_t kJobBytes = 32;
constexpr size_t kShardEntryBytes = 16;

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // the format is little-endian, as are the hosts we run on
    out_->insert(out_->end(), b, b + sizeof(T));
  }
  void PutBytes(const void* p, size_t n) { out_->insert(out_->end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); }

 private:
  std::vector<uint8_t>* out_;
};

class Reader {
 public:
  explicit Reader(const uint8_t* p) : p_(p) {}
  template <typename T>
  T Get() {
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  const uint8_t* Take(size_t n) {
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }

 private:
  const uint8_t* p_;
};

std::string Code(int k, int m) { return "RS(" + std::to_string(k) + "," + std::to_string(m) + ")"; }

}  // namespace

Result<std::vector<uint8_t>> SerializeHeader(const FragmentHeader& h) {
  if (h.job.size() >= kJobBytes) return Status::Error("job id '" + h.job + "' is longer than 31 bytes");
  if (h.k < 1 || h.k > kMaxGroupData || h.m < 1 || h.k + h.m > 255) {
    return Status::Error(Code(h.k, h.m) + " is outside what a fragment can describe (1 <= k <= 32, m >= 1)");
  }
  if (h.index < 0 || h.index >= h.k + h.m) return Status::Error("fragment index " + std::to_string(h.index) + " outside " + Code(h.k, h.m));
  if (static_cast<int>(h.shards.size()) != h.k) {
    return Status::Error("a fragment of " + Code(h.k, h.m) + " lists " + std::to_string(h.shards.size()) +
                         " shards, not " + std::to_string(h.k));
  }
  std::vector<uint8_t> out;
  out.reserve(kFragmentHeaderBytes);
  Writer w(&out);
  w.Put<uint32_t>(kFragmentMagic);
  w.Put<uint16_t>(kFragmentVersion);
  w.Put<uint16_t>(static_cast<uint16_t>(kFragmentHeaderBytes));
  char job[kJobBytes] = {};
  std::memcpy(job, h.job.data(), h.job.size());
  w.PutBytes(job, kJobBytes);
  w.Put<uint64_t>(h.step);
  w.Put<uint32_t>(h.group);
  w.Put<uint16_t>(static_cast<uint16_t>(h.index));
  w.Put<uint8_t>(static_cast<uint8_t>(h.k));
  w.Put<uint8_t>(static_cast<uint8_t>(h.m));
  w.Put<uint64_t>(h.fragment_bytes);
  w.Put<uint32_t>(h.fragment_crc);
  w.Put<uint32_t>(static_cast<uint32_t>(h.shards.size()));
  for (const auto& s : h.shards) {
    w.Put<int32_t>(s.rank);
    w.Put<uint64_t>(s.bytes);
    w.Put<uint32_t>(s.crc);
  }
  out.resize(kFragmentHeaderBytes - sizeof(uint32_t), 0);
  const uint32_t crc = Crc32c(out.data(), out.size());
  w.Put<uint32_t>(crc);
  return out;
}

Result<FragmentHeader> ParseHeader(const uint8_t* bytes, size_t size) {
  if (size < kFragmentHeaderBytes) {
    return Status::Error("fragment header truncated: " + std::to_string(size) + " of " +
                         std::to_string(kFragmentHeaderBytes) + " bytes");
  }
  Reader r(bytes);
  if (r.Get<uint32_t>() != kFragmentMagic) return Status::Error("not a Bulwark fragment (bad magic)");
  const uint16_t version = r.Get<uint16_t>();
  if (version != kFragmentVersion) {
    return Status::Error("fragment version " + std::to_string(version) + ", this build reads version " +
                         std::to_string(kFragmentVersion));
  }
  if (r.Get<uint16_t>() != kFragmentHeaderBytes) return Status::Error("fragment header size does not match its version");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes + kFragmentHeaderBytes - sizeof(uint32_t), sizeof(uint32_t));
  if (Crc32c(bytes, kFragmentHeaderBytes - sizeof(uint32_t)) != stored_crc) {
    return Status::Error("fragment header checksum mismatch: the header is corrupted");
  }
  FragmentHeader h;
  const uint8_t* job = r.Take(kJobBytes);
  h.job.assign(reinterpret_cast<const char*>(job), strnlen(reinterpret_cast<const char*>(job), kJobBytes));
  h.step = r.Get<uint64_t>();
  h.group = r.Get<uint32_t>();
  h.index = r.Get<uint16_t>();
  h.k = r.Get<uint8_t>();
  h.m = r.Get<uint8_t>();
  h.fragment_bytes = r.Get<uint64_t>();
  h.fragment_crc = r.Get<uint32_t>();
  const uint32_t shards = r.Get<uint32_t>();
  // A valid CRC over impossible values means a writer bug, not line noise: still refused.
  if (h.k < 1 || h.k > kMaxGroupData || h.m < 1) return Status::Error("fragment describes an impossible code " + Code(h.k, h.m));
  if (h.index >= h.k + h.m) return Status::Error("fragment index " + std::to_string(h.index) + " outside " + Code(h.k, h.m));
  if (shards != static_cast<uint32_t>(h.k)) return Status::Error("fragment lists " + std::to_string(shards) + " shards for k=" + std::to_string(h.k));
  for (uint32_t i = 0; i < shards; ++i) {
    ShardInfo s;
    s.rank = r.Get<int32_t>();
    s.bytes = r.Get<uint64_t>();
    s.crc = r.Get<uint32_t>();
    if (s.bytes > h.fragment_bytes) {
      return Status::Error("shard of rank " + std::to_string(s.rank) + " is longer (" + std::to_string(s.bytes) +
                           " bytes) than its block (" + std::to_string(h.fragment_bytes) + ")");
    }
    h.shards.push_back(s);
  }
  return h;
}

Status CheckPayload(const FragmentHeader& h, const uint8_t* payload, size_t size) {
  const std::string what = "fragment " + std::to_string(h.index) + " of group " + std::to_string(h.group) +
                           ", step " + std::to_string(h.step);
  if (size != h.fragment_bytes) {
    return Status::Error(what + ": payload of " + std::to_string(size) + " bytes, header says " +
                         std::to_string(h.fragment_bytes));
  }
  if (Crc32c(payload, size) != h.fragment_crc) return Status::Error(what + ": payload checksum mismatch (corrupted)");
  return Status::Ok();
}

}  // namespace bulwark::snapshot
