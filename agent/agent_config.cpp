#include "agent/agent_config.h"

#include <fstream>
#include <sstream>

#include "common/host_port.h"
#include "common/strict_yaml.h"

namespace bulwark::agent {
namespace {

void ParseListen(StrictMap& root, AgentConfig* c) {
  const std::string listen = root.String("listen", "127.0.0.1:7071");
  Status s = ParseHostPort(listen, &c->listen_host, &c->listen_port);
  if (!s.ok()) root.Fail("listen", s.message());
}

NodeOverrides ParseNode(StrictMap node) {
  NodeOverrides o;
  if (node.Has("name")) {
    o.name = node.String("name", "");
    if (!IsValidNodeName(*o.name)) node.Fail("name", "'" + *o.name + "' is not a valid node name");
  }
  if (node.Has("hostname")) o.hostname = node.String("hostname", "");
  if (node.Has("cpu_model")) o.cpu_model = node.String("cpu_model", "");
  if (node.Has("addresses")) o.addresses = node.StringList("addresses");
  if (node.Has("gpus")) o.gpus = static_cast<int>(node.Int("gpus", 0, 0, 1024));
  if (node.Has("cpus")) o.cpus = static_cast<int>(node.Int("cpus", 0, 0, 1 << 20));
  if (node.Has("memory_bytes")) o.memory_bytes = node.Int("memory_bytes", 0, 0, INT64_MAX);
  auto domain = node.Map("failure_domain");
  if (domain.Has("rack")) o.rack = domain.String("rack", "");
  if (domain.Has("leaf")) o.leaf = domain.String("leaf", "");
  domain.Finish();
  if (node.Has("nics")) {
    std::vector<Nic> nics;
    for (auto& n : node.MapList("nics")) {
      Nic nic;
      nic.name = n.String("name", "");
      if (nic.name.empty()) n.Fail("name", "is required");
      nic.type = n.String("type", "ethernet", {"ib", "roce", "ethernet"});
      nic.speed_gbps = n.Double("speed_gbps", 0, 0, 1e5);
      nic.rail = static_cast<int>(n.Int("rail", -1, -1, 1024));
      nic.address = n.String("address", "");
      n.Finish();
      nics.push_back(nic);
    }
    o.nics = nics;
  }
  node.Finish();
  return o;
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(const std::string& yaml_text, const std::string& source) {
  AgentConfig c;
  try {
    StrictMap root(ParseYaml(yaml_text, source), source);
    if (!root.Has("controller")) root.Fail("controller", "is required (the controller's URL)");
    if (!root.Has("token_file")) root.Fail("token_file", "is required (the agent join token)");
    c.controller_url = root.String("controller", "");
    if (c.controller_url.rfind("http://", 0) != 0 && c.controller_url.rfind("https://", 0) != 0) {
      root.Fail("controller", "must be an http:// or https:// URL, got '" + c.controller_url + "'");
    }
    c.token_file = root.String("token_file", "");
    ParseListen(root, &c);
    c.address_file = root.String("address_file", "");
    c.work_dir = root.String("work_dir", c.work_dir);
    c.shm_prefix = root.String("shm_prefix", "");
    c.role = root.String("role", "worker", {"worker", "spare"});
    c.heartbeat_interval_ms = root.Int("heartbeat_interval_ms", 1000, 50, 600000);
    c.telemetry_interval_ms = root.Int("telemetry_interval_ms", c.telemetry_interval_ms, 50, 3600000);
    c.telemetry_buffer_batches = root.Int("telemetry_buffer_batches", 600, 1, 1000000);
    c.event_buffer = root.Int("event_buffer", 10000, 1, 10000000);
    c.command_wait_ms = root.Int("command_wait_ms", 25000, 100, 600000);
    auto backoff = root.Map("backoff");
    c.backoff_initial_ms = backoff.Int("initial_ms", 200, 1, 600000);
    c.backoff_max_ms = backoff.Int("max_ms", 10000, 1, 3600000);
    backoff.Finish();
    auto discovery = root.Map("discovery");
    c.sysfs_root = discovery.String("sysfs_root", "/sys");
    c.procfs_root = discovery.String("procfs_root", "/proc");
    discovery.Finish();
    auto hooks = root.Map("hooks");
    c.hooks_socket = hooks.String("socket", c.hooks_socket);
    if (c.hooks_socket.empty() || c.hooks_socket.size() > 107) {
      hooks.Fail("socket", "must be a Unix socket path of 1 to 107 bytes (or '@name' for an abstract one)");
    }
    c.local_hang_ms = hooks.Int("local_hang_ms", c.local_hang_ms, 100, 3600000);
    hooks.Finish();
    auto snapshot = root.Map("snapshot");
    const std::string snapshot_listen = snapshot.String("listen", "127.0.0.1:7072");
    if (Status s = ParseHostPort(snapshot_listen, &c.snapshot_listen_host, &c.snapshot_listen_port); !s.ok()) {
      snapshot.Fail("listen", s.message());
    }
    c.snapshot_budget_bytes = static_cast<uint64_t>(snapshot.Int("budget_bytes", 0, 0, INT64_MAX));
    c.snapshot_chunk_bytes = snapshot.Int("chunk_bytes", c.snapshot_chunk_bytes, 4096, 64 << 20);
    c.snapshot_poll_ms = snapshot.Int("poll_ms", c.snapshot_poll_ms, 1, 10000);
    c.snapshot_timeout_ms = snapshot.Int("timeout_ms", c.snapshot_timeout_ms, 100, 3600000);
    snapshot.Finish();
    auto self_check = root.Map("self_check");
    c.self_check_fail = self_check.StringList("fail");
    c.self_check_min_fraction = self_check.Double("min_fraction_of_baseline", c.self_check_min_fraction, 0.01, 1);
    auto mpi = self_check.Map("mpi");
    c.self_check_mpi_launcher = mpi.String("launcher", "");
    c.self_check_mpi_program = mpi.String("program", "");
    c.self_check_mpi_timeout_ms = mpi.Int("timeout_ms", c.self_check_mpi_timeout_ms, 1000, 600000);
    mpi.Finish();
    auto gpu = self_check.Map("gpu");
    c.self_check_gpu_program = gpu.String("program", "");
    c.self_check_cuda_library = gpu.String("cuda_library", c.self_check_cuda_library);
    c.self_check_nccl_library = gpu.String("nccl_library", c.self_check_nccl_library);
    c.self_check_gpu_timeout_ms = gpu.Int("timeout_ms", c.self_check_gpu_timeout_ms, 1000, 600000);
    gpu.Finish();
    self_check.Finish();
    auto link_faults = root.Map("link_faults");
    c.link_fault_interface = link_faults.String("interface", "");
    if (c.link_fault_interface.size() > 15) link_faults.Fail("interface", "must be a network interface name of at most 15 bytes");
    c.link_fault_netem = link_faults.String("netem", "");
    link_faults.Finish();
    c.node = ParseNode(root.Map("node"));
    root.Finish();
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseAgentConfig(ss.str(), path);
}

}  // namespace bulwark::agent
