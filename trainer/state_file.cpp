#include "trainer/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/digest.h"

namespace bulwark::train {
namespace {

constexpr char kMagic[8] = {'B', 'W', 'S', 'T', 'A', 'T', 'E', '\0'};
constexpr uint32_t kVersion = 1;

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

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

namespace {

// An open state file read with pread: one kernel copy straight into the destination (a
// stringstream of the whole file cost ~7 s per 317 MB rank state in copies and regrowth).
class StateFileReader {
 public:
  explicit StateFileReader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st;
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  }
  ~StateFileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  StateFileReader(const StateFileReader&) = delete;
  StateFileReader& operator=(const StateFileReader&) = delete;

  bool open() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }

  // Exactly n bytes at `at`, or false (end of file or an I/O error).
  bool ReadAt(void* out, size_t n, uint64_t at) const {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(at));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      p += got;
      at += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
    return true;
  }

 private:
  int fd_;
  uint64_t size_ = 0;
};

struct HeaderEntry {
  std::string name;
  uint64_t bytes = 0;
  uint64_t digest = 0;
  uint64_t offset = 0;  // of the range's bytes in the file
};

// The header as the file states it. Its raw bytes are kept: the trailer is their digest.
struct Header {
  std::vector<HeaderEntry> entries;
  std::string raw;
};

// Reads the header field by field; every field it reads is appended to `raw`.
class HeaderParser {
 public:
  explicit HeaderParser(const StateFileReader& file) : file_(file) {}
  template <typename T>
  bool Get(T* v) {
    return Bytes(sizeof(T), reinterpret_cast<char*>(v));
  }
  bool Bytes(size_t n, char* out) {
    if (!file_.ReadAt(out, n, raw_.size())) return false;
    raw_.append(out, n);
    return true;
  }
  std::string TakeRaw() { return std::move(raw_); }

 private:
  const StateFileReader& file_;
  std::string raw_;
};

Result<Header> ParseHeader(const StateFileReader& file, const std::string& path) {
  if (!file.open()) return Status::Error(path + ": cannot open state file");
  HeaderParser in(file);
  char magic[sizeof kMagic];
  if (!in.Bytes(sizeof magic, magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return Status::Error(path + ": not a Bulwark state file (bad magic)");
  }
  uint32_t version = 0, count = 0;
  if (!in.Get(&version) || version != kVersion) {
    return Status::Error(path + ": state file version " + std::to_string(version) + " is not supported (expected " +
                         std::to_string(kVersion) + ")");
  }
  if (!in.Get(&count)) return Status::Error(path + ": truncated header");
  if (count > 1024) return Status::Error(path + ": a header of " + std::to_string(count) + " ranges (at most 1024)");
  Header header;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0;
    HeaderEntry e;
    if (!in.Get(&name_len) || name_len > 4096) return Status::Error(path + ": truncated header");
    e.name.resize(name_len);
    if (!in.Bytes(name_len, e.name.data()) || !in.Get(&e.bytes) || !in.Get(&e.digest)) {
      return Status::Error(path + ": truncated header");
    }
    header.entries.push_back(std::move(e));
  }
  header.raw = in.TakeRaw();
  uint64_t offset = header.raw.size();
  for (auto& e : header.entries) {
    e.offset = offset;
    offset += e.bytes;
  }
  return header;
}

// The file is exactly header, ranges and trailer, and the trailer matches the header.
Status CheckShapeAndTrailer(const StateFileReader& file, const Header& header, const std::string& path) {
  for (const auto& e : header.entries) {
    if (file.size() < e.offset + e.bytes) return Status::Error(path + ": truncated: range '" + e.name + "' is cut short");
  }
  const uint64_t payload_end = header.entries.empty() ? header.raw.size() : header.entries.back().offset + header.entries.back().bytes;
  uint64_t trailer = 0;
  if (!file.ReadAt(&trailer, sizeof trailer, payload_end)) return Status::Error(path + ": truncated: trailer missing");
  if (trailer != Digest64(header.raw)) return Status::Error(path + ": header is corrupted (digest mismatch)");
  if (file.size() != payload_end + sizeof trailer) {
    return Status::Error(path + ": " + std::to_string(file.size() - payload_end - sizeof trailer) + " unexpected bytes after the trailer");
  }
  return Status::Ok();
}

// Reads the entries' bytes into one staging buffer and checks their digests; only then are
// they copied into `targets` (parallel to `entries`), so a bad file changes nothing.
Status ReadVerified(const StateFileReader& file, const std::vector<const HeaderEntry*>& entries,
                    const std::vector<NamedRange>& targets, const std::string& path) {
  uint64_t total = 0;
  for (const auto* e : entries) total += e->bytes;
  std::unique_ptr<char[]> staging(new char[total]);  // not zero-filled: every byte is read over
  std::vector<const char*> at;
  char* p = staging.get();
  for (const auto* e : entries) {
    if (!file.ReadAt(p, e->bytes, e->offset)) return Status::Error(path + ": cannot read range '" + e->name + "' (did the file change while it was read?)");
    if (Digest64(p, e->bytes) != e->digest) return Status::Error(path + ": range '" + e->name + "' is corrupted (digest mismatch)");
    at.push_back(p);
    p += e->bytes;
  }
  for (size_t i = 0; i < targets.size(); ++i) std::memcpy(targets[i].data, at[i], targets[i].bytes);
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::pair<std::string, uint64_t>>> StateFileLayout(const std::string& path) {
  const StateFileReader file(path);
  auto header = ParseHeader(file, path);
  if (!header.ok()) return header.status();
  std::vector<std::pair<std::string, uint64_t>> layout;
  for (const auto& e : header->entries) layout.emplace_back(e.name, e.bytes);
  return layout;
}

Status ReadStateFile(const std::string& path, const std::vector<NamedRange>& ranges) {
  const StateFileReader file(path);
  auto header = ParseHeader(file, path);
  if (!header.ok()) return header.status();
  if (header->entries.size() != ranges.size()) {
    return Status::Error(path + ": holds " + std::to_string(header->entries.size()) + " ranges; this trainer has " +
                         std::to_string(ranges.size()));
  }
  std::vector<const HeaderEntry*> entries;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const HeaderEntry& e = header->entries[i];
    if (e.name != ranges[i].name || e.bytes != ranges[i].bytes) {
      return Status::Error(path + ": range " + std::to_string(i) + " is '" + e.name + "' of " + std::to_string(e.bytes) +
                           " bytes; expected '" + ranges[i].name + "' of " + std::to_string(ranges[i].bytes) +
                           " bytes (different model or world size?)");
    }
    entries.push_back(&e);
  }
  if (Status s = CheckShapeAndTrailer(file, *header, path); !s.ok()) return s;
  return ReadVerified(file, entries, ranges, path);
}

Status ReadStateFileRange(const std::string& path, const NamedRange& range) {
  const StateFileReader file(path);
  auto header = ParseHeader(file, path);
  if (!header.ok()) return header.status();
  const auto e = std::find_if(header->entries.begin(), header->entries.end(), [&](const HeaderEntry& x) { return x.name == range.name; });
  if (e == header->entries.end()) return Status::Error(path + ": holds no range '" + range.name + "'");
  if (e->bytes != range.bytes) {
    return Status::Error(path + ": range '" + range.name + "' is " + std::to_string(e->bytes) + " bytes; expected " +
                         std::to_string(range.bytes));
  }
  if (Status s = CheckShapeAndTrailer(file, *header, path); !s.ok()) return s;
  return ReadVerified(file, {&*e}, {range}, path);
}

}  // namespace bulwark::train
