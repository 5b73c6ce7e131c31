#include "controller/ctl_db_disk.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace bulwark::ctl {
namespace {

namespace fs = std::filesystem;

std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command; on failure, the error names it with its output.
Status Run(const std::string& command, const std::string& what) {
  std::string output;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return Status::Error(what + ": cannot run " + command);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) output += buf;
  const int rc = ::pclose(p);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  if (rc != 0) return Status::Error(what + " failed" + (output.empty() ? "" : ": " + output));
  return Status::Ok();
}

bool Mounted(const std::string& dir) { return std::system(("mountpoint -q " + Quoted(dir)).c_str()) == 0; }

}  // namespace

Status MountDbDisk(const std::string& dir, uint64_t create_bytes) {
  const std::string image = dir + "/db.img", db = dir + "/db";
  std::error_code ec;
  if (!fs::exists(image, ec)) {
    if (create_bytes == 0) return Status::Ok();
    if (fs::exists(db, ec) && !fs::is_empty(db, ec)) {
      return Status::Error(db + " already holds a database: --db-size is for a new cluster directory");
    }
    if (Status s = Run("truncate -s " + std::to_string(create_bytes) + " " + Quoted(image), "creating " + image); !s.ok()) return s;
    if (Status s = Run("mkfs.ext4 -q -F " + Quoted(image), "mkfs.ext4 on " + image); !s.ok()) {
      fs::remove(image, ec);
      return s;
    }
  }
  fs::create_directories(db, ec);
  if (Mounted(db)) return Status::Ok();
  if (Status s = Run("mount -o loop " + Quoted(image) + " " + Quoted(db), "mounting " + image + " on " + db); !s.ok()) {
    return Status::Error(s.message() + " (a database filesystem of its own needs root and loop devices)");
  }
  return Status::Ok();
}

Status UnmountDbDisk(const std::string& dir) {
  const std::string db = dir + "/db";
  std::error_code ec;
  if (!fs::exists(dir + "/db.img", ec) || !Mounted(db)) return Status::Ok();
  return Run("umount " + Quoted(db), "unmounting " + db);
}

}  // namespace bulwark::ctl
