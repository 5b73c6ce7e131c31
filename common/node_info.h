// What an agent tells the controller about its node when it registers: the wire type both
// sides share, with its strict reader.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark {

struct Nic {
  std::string name;       // "ib0", "eth1"
  std::string type;       // "ib", "roce" or "ethernet"
  double speed_gbps = 0;  // 0: unknown
  int rail = -1;          // -1: none
  std::string address;
};

struct NodeInfo {
  std::string name;
  std::string hostname;
  std::vector<std::string> addresses;
  std::string rack, leaf;  // failure domain; empty when unknown
  std::vector<Nic> nics;
  int gpus = 0;
  int cpus = 0;
  std::string cpu_model;
  int64_t memory_bytes = 0;
  std::string agent_url;   // where the agent serves /healthz, /metrics (and, later, fragments)
  std::string shm_prefix;  // the agent's shared-memory namespace
  std::string data_address;  // host:port of the agent's data plane (fragments, link probes)
  std::string hook_socket;   // where ranks' hooks register their rings (BULWARK_AGENT_SOCKET)
  std::string agent_version;
  std::string role = "worker";  // "worker" or "spare": what the agent asks to be at first registration
};

// Node names become URL path segments, file names and label values: keep them tame.
bool IsValidNodeName(const std::string& name);

// Reads a registration body strictly (unknown fields, wrong types: JsonError naming them).
NodeInfo ParseNodeInfo(const nlohmann::json& body);
nlohmann::json ToJson(const NodeInfo& info);

}  // namespace bulwark
