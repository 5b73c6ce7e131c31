// Self-checks an agent runs when asked (a node back from heartbeat loss must pass them
// before it is trusted again). Today a short list of node basics; the diagnostics issue
// adds GPU, NIC and collective probes.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace bulwark::agent {

struct SelfCheckOptions {
  std::string work_dir;
  std::string procfs_root = "/proc";
  std::vector<std::string> only;         // run just these (empty: all)
  std::vector<std::string> forced_fail;  // fault injection: report these as failed
};

// {"passed": bool, "summary": "...", "checks": [{"name", "ok", "detail"}]}
nlohmann::json RunSelfChecks(const SelfCheckOptions& options);

// The names RunSelfChecks knows.
std::vector<std::string> SelfCheckNames();

}  // namespace bulwark::agent
