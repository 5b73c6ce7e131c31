#include "trainer/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/digest.h"

namespace bulwark::train {
namespace {

constexpr char kMagic[8] = {'B', 'W', 'S', 'T', 'A', 'T', 'E', '\0'};
constexpr uint32_t kVersion = 1;

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads sequentially from a byte buffer; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(size_t n, const char** at) {
    if (data_.size() - pos_ < n) return false;
    *at = data_.data() + pos_;
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

Status WriteAll(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::Error(path + ": write failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

Status WriteStateFile(const std::string& path, const std::vector<NamedRange>& ranges) {
  std::string header(kMagic, sizeof kMagic);
  Put(header, kVersion);
  Put(header, static_cast<uint32_t>(ranges.size()));
  for (const auto& r : ranges) {
    Put(header, static_cast<uint32_t>(r.name.size()));
    header += r.name;
    Put(header, static_cast<uint64_t>(r.bytes));
    Put(header, Digest64(r.data, r.bytes));
  }
  // The trailer covers the header and the per-range digests, which cover the bytes.
  const uint64_t trailer = Digest64(header);

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(tmp + ": cannot create: " + std::strerror(errno));
  Status s = WriteAll(fd, header.data(), header.size(), tmp);
  for (size_t i = 0; s.ok() && i < ranges.size(); ++i) {
    s = WriteAll(fd, static_cast<const char*>(ranges[i].data), ranges[i].bytes, tmp);
  }
  if (s.ok()) s = WriteAll(fd, reinterpret_cast<const char*>(&trailer), sizeof trailer, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Status::Error(tmp + ": fsync failed: " + std::strerror(errno));
  ::close(fd);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::Error(path + ": rename failed: " + std::strerror(errno));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

Result<std::vector<std::pair<std::string, uint64_t>>> StateFileLayout(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open state file");
  char magic[sizeof kMagic];
  uint32_t version = 0, count = 0;
  if (!in.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return Status::Error(path + ": not a Bulwark state file (bad magic)");
  }
  if (!in.read(reinterpret_cast<char*>(&version), sizeof version) || version != kVersion ||
      !in.read(reinterpret_cast<char*>(&count), sizeof count) || count > 1024) {
    return Status::Error(path + ": unsupported or truncated header");
  }
  std::vector<std::pair<std::string, uint64_t>> layout;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0;
    uint64_t bytes = 0, digest = 0;
    if (!in.read(reinterpret_cast<char*>(&name_len), sizeof name_len) || name_len > 4096) {
      return Status::Error(path + ": truncated header");
    }
    std::string name(name_len, '\0');
    if (!in.read(name.data(), name_len) || !in.read(reinterpret_cast<char*>(&bytes), sizeof bytes) ||
        !in.read(reinterpret_cast<char*>(&digest), sizeof digest)) {
      return Status::Error(path + ": truncated header");
    }
    layout.emplace_back(std::move(name), bytes);
  }
  return layout;
}

Status ReadStateFile(const std::string& path, const std::vector<NamedRange>& ranges) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open state file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  Reader r(data);

  const char* magic = nullptr;
  if (!r.Bytes(sizeof kMagic, &magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return Status::Error(path + ": not a Bulwark state file (bad magic)");
  }
  uint32_t version = 0, count = 0;
  if (!r.Get(&version) || version != kVersion) {
    return Status::Error(path + ": state file version " + std::to_string(version) + " is not supported (expected " +
                         std::to_string(kVersion) + ")");
  }
  if (!r.Get(&count)) return Status::Error(path + ": truncated header");
  if (count != ranges.size()) {
    return Status::Error(path + ": holds " + std::to_string(count) + " ranges; this trainer has " +
                         std::to_string(ranges.size()));
  }
  std::vector<uint64_t> digests(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0;
    const char* name = nullptr;
    uint64_t bytes = 0;
    if (!r.Get(&name_len) || !r.Bytes(name_len, &name) || !r.Get(&bytes) || !r.Get(&digests[i])) {
      return Status::Error(path + ": truncated header");
    }
    const std::string got(name, name_len);
    if (got != ranges[i].name || bytes != ranges[i].bytes) {
      return Status::Error(path + ": range " + std::to_string(i) + " is '" + got + "' of " + std::to_string(bytes) +
                           " bytes; expected '" + ranges[i].name + "' of " + std::to_string(ranges[i].bytes) +
                           " bytes (different model or world size?)");
    }
  }
  const uint64_t header_digest = Digest64(data.data(), r.pos());
  std::vector<const char*> payload(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (!r.Bytes(ranges[i].bytes, &payload[i])) return Status::Error(path + ": truncated: range '" + ranges[i].name + "' is cut short");
    if (Digest64(payload[i], ranges[i].bytes) != digests[i]) {
      return Status::Error(path + ": range '" + ranges[i].name + "' is corrupted (digest mismatch)");
    }
  }
  uint64_t trailer = 0;
  if (!r.Get(&trailer)) return Status::Error(path + ": truncated: trailer missing");
  if (trailer != header_digest) return Status::Error(path + ": header is corrupted (digest mismatch)");
  if (r.pos() != data.size()) return Status::Error(path + ": " + std::to_string(data.size() - r.pos()) + " unexpected bytes after the trailer");

  for (uint32_t i = 0; i < count; ++i) std::memcpy(ranges[i].data, payload[i], ranges[i].bytes);
  return Status::Ok();
}

}  // namespace bulwark::train
