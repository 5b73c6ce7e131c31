#include "common/node_info.h"

#include "common/strict_json.h"

namespace bulwark {

bool IsValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.'))) return false;
  }
  return true;
}

NodeInfo ParseNodeInfo(const nlohmann::json& body) {
  StrictJson in(body);
  NodeInfo info;
  info.name = in.RequiredString("name");
  if (!IsValidNodeName(info.name)) {
    in.Fail("name", "'" + info.name + "' is not a valid node name (letters, digits, '-', '_', '.'; at most 63)");
  }
  info.hostname = in.String("hostname", "");
  info.addresses = in.StringList("addresses");
  auto domain = in.Object("failure_domain");
  info.rack = domain.String("rack", "");
  info.leaf = domain.String("leaf", "");
  domain.Finish();
  for (auto& nic_in : in.ObjectList("nics")) {
    Nic nic;
    nic.name = nic_in.RequiredString("name");
    nic.type = nic_in.RequiredString("type");
    if (nic.type != "ib" && nic.type != "roce" && nic.type != "ethernet") {
      nic_in.Fail("type", "must be one of {ib, roce, ethernet}, got '" + nic.type + "'");
    }
    nic.speed_gbps = nic_in.Number("speed_gbps", 0, 0, 1e5);
    nic.rail = static_cast<int>(nic_in.Int("rail", -1, -1, 1024));
    nic.address = nic_in.String("address", "");
    nic_in.Finish();
    info.nics.push_back(nic);
  }
  info.gpus = static_cast<int>(in.Int("gpus", 0, 0, 1024));
  info.cpus = static_cast<int>(in.Int("cpus", 0, 0, 1 << 20));
  info.cpu_model = in.String("cpu_model", "");
  info.memory_bytes = in.Int("memory_bytes", 0, 0, INT64_MAX);
  info.agent_url = in.String("agent_url", "");
  info.shm_prefix = in.String("shm_prefix", "");
  info.data_address = in.String("data_address", "");
  info.hook_socket = in.String("hook_socket", "");
  info.agent_version = in.String("agent_version", "");
  const std::string role = in.String("role", "worker");
  if (role != "worker" && role != "spare") in.Fail("role", "must be 'worker' or 'spare', got '" + role + "'");
  info.role = role;
  in.Finish();
  return info;
}

nlohmann::json ToJson(const NodeInfo& info) {
  nlohmann::json nics = nlohmann::json::array();
  for (const auto& n : info.nics) {
    nics.push_back({{"name", n.name}, {"type", n.type}, {"speed_gbps", n.speed_gbps}, {"rail", n.rail},
                    {"address", n.address}});
  }
  return {{"name", info.name},
          {"hostname", info.hostname},
          {"addresses", info.addresses},
          {"failure_domain", {{"rack", info.rack}, {"leaf", info.leaf}}},
          {"nics", nics},
          {"gpus", info.gpus},
          {"cpus", info.cpus},
          {"cpu_model", info.cpu_model},
          {"memory_bytes", info.memory_bytes},
          {"agent_url", info.agent_url},
          {"shm_prefix", info.shm_prefix},
          {"data_address", info.data_address},
          {"hook_socket", info.hook_socket},
          {"agent_version", info.agent_version},
          {"role", info.role}};
}

}  // namespace bulwark
