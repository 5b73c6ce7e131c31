#include "agent/self_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

namespace bulwark::agent {
namespace {

struct Outcome {
  bool ok;
  std::string detail;
};

// Writes, fsyncs, reads back and removes a file: catches full, read-only or broken disks.
Outcome WorkDirWritable(const SelfCheckOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.work_dir, ec);
  const std::string path = o.work_dir + "/.self-check";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return {false, "cannot create " + path};
  const char data[] = "bulwark self-check";
  const bool written = ::write(fd, data, sizeof(data)) == static_cast<ssize_t>(sizeof(data)) && ::fsync(fd) == 0;
  ::close(fd);
  std::ifstream in(path);
  std::string back;
  std::getline(in, back, '\0');
  std::filesystem::remove(path, ec);
  if (!written || back != "bulwark self-check") return {false, "write/read-back failed in " + o.work_dir};
  return {true, o.work_dir + " is writable"};
}

Outcome MemoryAvailable(const SelfCheckOptions& o) {
  std::ifstream in(o.procfs_root + "/meminfo");
  std::string line;
  long long total = 0, available = 0;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) == 0) total = std::atoll(line.c_str() + 9);
    if (line.rfind("MemAvailable:", 0) == 0) available = std::atoll(line.c_str() + 13);
  }
  if (total <= 0) return {false, "cannot read " + o.procfs_root + "/meminfo"};
  const bool ok = available * 20 >= total;  // at least 5% free
  return {ok, std::to_string(available / 1024) + " MiB of " + std::to_string(total / 1024) + " MiB available"};
}

Outcome ClockMonotonic(const SelfCheckOptions&) {
  const auto a = std::chrono::steady_clock::now();
  ::usleep(1000);
  const auto b = std::chrono::steady_clock::now();
  return {b > a, b > a ? "steady clock advances" : "steady clock did not advance"};
}

Outcome ProcessTable(const SelfCheckOptions& o) {
  const bool ok = std::filesystem::exists(o.procfs_root + "/self/stat");
  return {ok, ok ? "process table readable" : o.procfs_root + "/self/stat unreadable"};
}

const std::vector<std::pair<std::string, std::function<Outcome(const SelfCheckOptions&)>>>& Checks() {
  static const std::vector<std::pair<std::string, std::function<Outcome(const SelfCheckOptions&)>>> kChecks = {
      {"work_dir_writable", WorkDirWritable},
      {"memory_available", MemoryAvailable},
      {"clock_monotonic", ClockMonotonic},
      {"process_table", ProcessTable},
  };
  return kChecks;
}

bool Contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

std::vector<std::string> SelfCheckNames() {
  std::vector<std::string> names;
  for (const auto& [name, check] : Checks()) names.push_back(name);
  return names;
}

nlohmann::json RunSelfChecks(const SelfCheckOptions& options) {
  nlohmann::json checks = nlohmann::json::array();
  std::string failed;
  for (const auto& name : options.only) {
    if (!Contains(SelfCheckNames(), name)) {
      checks.push_back({{"name", name}, {"ok", false}, {"detail", "no such check"}});
      failed += (failed.empty() ? "" : ", ") + name;
    }
  }
  int run = 0;
  for (const auto& [name, check] : Checks()) {
    if (!options.only.empty() && !Contains(options.only, name)) continue;
    Outcome outcome = check(options);
    if (Contains(options.forced_fail, name)) outcome = {false, "forced to fail by self_check.fail (fault injection)"};
    checks.push_back({{"name", name}, {"ok", outcome.ok}, {"detail", outcome.detail}});
    if (!outcome.ok) failed += (failed.empty() ? "" : ", ") + name + " (" + outcome.detail + ")";
    ++run;
  }
  const bool passed = failed.empty();
  return {{"passed", passed},
          {"summary", passed ? std::to_string(run) + " checks passed" : failed},
          {"checks", checks}};
}

}  // namespace bulwark::agent
