// What an operator may inject (`bulwarkctl inject`, POST /v1/injections) and where each
// kind is carried out. Pure: it validates a request and names what is wrong with it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::controller {

// Who makes a kind of fault real.
enum class InjectionSite {
  kAgent,       // the target node's agent (signals to its ranks, its memory, its own end)
  kController,  // the controller itself (its database's disk)
  kOperator,    // the tool that runs the cluster: the controller cannot kill itself and come back
};

struct InjectionKind {
  std::string name;
  InjectionSite site;
  bool lasting;  // stays in force until its duration runs out or it is healed
  std::string what;
};

// Every kind, in the order `bulwarkctl inject --help` lists them.
const std::vector<InjectionKind>& InjectionKinds();
const InjectionKind* FindInjectionKind(const std::string& name);

struct InjectionSpec {
  std::string kind;
  std::string node;         // agent kinds: the target node
  std::string job;          // optional: that job's rank (else any job's on the node)
  std::optional<int> rank;  // optional: that global rank (else the node's lowest)
  int64_t duration_ms = 0;  // lasting kinds: 0 holds until healed
  int percent = 100;        // slow-rank: each unit of work takes (100 + percent)% of its time
  uint64_t leave_bytes = 0; // fill-disk: free bytes left on the database's filesystem
  int64_t delay_ms = 0;     // slow-link: added each way
  double rate_mbit = 0;     // slow-link: each way (0: no limit)
  double loss_percent = 0;  // lossy-link: of packets each way
  int64_t period_ms = 0, down_ms = 0;  // flap-link: down for down_ms of every period_ms
};

// From a request body ({"kind", "node", "job", "rank", "duration", "percent", "leave",
// "delay", "rate", "loss", "period", "down"});
// an error names the field and what it must be.
Result<InjectionSpec> ParseInjection(const nlohmann::json& body);
nlohmann::json ToJson(const InjectionSpec& spec);

// "500ms", "30s", "2m", "1h" or a bare number of milliseconds.
Result<int64_t> ParseDurationMs(const std::string& text);
// "64MiB", "1GiB", "4096" (bytes).
Result<uint64_t> ParseBytes(const std::string& text);

}  // namespace bulwark::controller
