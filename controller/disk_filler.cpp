#include "controller/disk_filler.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace bulwark::controller {
namespace {

Result<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) return Status::Error(dir + ": " + std::strerror(errno));
  // Blocks reserved for root are free to a controller that runs as root: count them too.
  return static_cast<uint64_t>(::geteuid() == 0 ? fs.f_bfree : fs.f_bavail) * fs.f_frsize;
}

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Result<DiskFill> FillDisk(const std::string& dir, const std::string& file_name, uint64_t leave_bytes, uint64_t max_bytes) {
  auto free = FreeBytes(dir);
  if (!free.ok()) return free.status();
  if (free.value() <= leave_bytes) return Status::Error(dir + " has " + MiB(free.value()) + " free already: nothing to fill");
  const uint64_t take = free.value() - leave_bytes;
  if (take > max_bytes) {
    return Status::Error("filling " + dir + " would take " + MiB(take) + ", more than the " + MiB(max_bytes) +
                         " allowed: give the database a filesystem of its own (bulwarkctl cluster up --db-size 256MiB)");
  }
  DiskFill fill{dir + "/" + file_name, 0, 0};
  const int fd = ::open(fill.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(fill.file + ": " + std::strerror(errno));
  // Preallocated where the filesystem can; written out where it cannot, until it is full.
  if (::posix_fallocate(fd, 0, static_cast<off_t>(take)) == 0) {
    fill.bytes = take;
  } else {
    const std::vector<char> zeros(1 << 20, 0);
    while (fill.bytes < take) {
      const ssize_t n = ::write(fd, zeros.data(), std::min<uint64_t>(zeros.size(), take - fill.bytes));
      if (n <= 0) break;  // ENOSPC: as full as it gets
      fill.bytes += static_cast<uint64_t>(n);
    }
  }
  ::fsync(fd);
  ::close(fd);
  auto after = FreeBytes(dir);
  fill.free_after = after.ok() ? after.value() : 0;
  return fill;
}

Status UnfillDisk(const std::string& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) return Status::Error(file + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace bulwark::controller
