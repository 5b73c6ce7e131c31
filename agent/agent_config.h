// bulwark-agent's YAML config. Every key, its default and meaning: the README's config reference.
// Anything under `node:` overrides what discovery found (needed for logical nodes on one
// machine, and for facts sysfs cannot tell, like rails and failure domains).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/node_info.h"
#include "common/status.h"

namespace bulwark::agent {

struct NodeOverrides {
  std::optional<std::string> name, hostname, rack, leaf, cpu_model;
  std::optional<std::vector<std::string>> addresses;
  std::optional<int> gpus, cpus;
  std::optional<int64_t> memory_bytes;
  std::optional<std::vector<Nic>> nics;  // replaces the discovered list when given
};

struct AgentConfig {
  std::string controller_url;  // required
  std::string token_file;      // required: the agent join token
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7071;
  std::string address_file;
  std::string work_dir = "/var/lib/bulwark/agent";
  std::string shm_prefix;       // default "/bulwark-<node name>"
  std::string role = "worker";  // worker or spare, asked for at first registration
  int64_t heartbeat_interval_ms = 1000;
  int64_t telemetry_interval_ms = 1000;  // diagnosis wants per-call timings while they are fresh
  int64_t telemetry_buffer_batches = 600;
  int64_t event_buffer = 10000;
  int64_t command_wait_ms = 25000;
  int64_t backoff_initial_ms = 200;
  int64_t backoff_max_ms = 10000;
  std::string sysfs_root = "/sys";
  std::string procfs_root = "/proc";
  std::vector<std::string> self_check_fail;  // fault injection: checks forced to fail
  double self_check_min_fraction = 0.5;      // a measured rate below this share of its baseline fails
  // The MPI self-check's launcher and program; "": bulwark-mpirun and bulwark-mpi-check
  // beside the agent's binary, if there (else the check is skipped).
  std::string self_check_mpi_launcher;
  std::string self_check_mpi_program;
  int64_t self_check_mpi_timeout_ms = 30000;
  // The GPU and NCCL checks: bulwark-gpu-check ("": beside the agent, if built) and the
  // libraries it loads.
  std::string self_check_gpu_program;
  std::string self_check_cuda_library = "libcuda.so.1";
  std::string self_check_nccl_library = "libnccl.so.2";
  int64_t self_check_gpu_timeout_ms = 60000;
  std::string hooks_socket = "/run/bulwark/agent.sock";  // '@name': abstract namespace
  int64_t local_hang_ms = 60000;
  // The snapshot store's data plane and limits (see the README's config reference).
  std::string snapshot_listen_host = "127.0.0.1";
  uint16_t snapshot_listen_port = 7072;
  uint64_t snapshot_budget_bytes = 0;  // parity held for peers; 0: no cap
  int64_t snapshot_chunk_bytes = 4 << 20;
  int64_t snapshot_poll_ms = 2;
  int64_t snapshot_timeout_ms = 60000;
  // Link faults (slow-link, lossy-link, partition-node, flap-link) act on this interface,
  // the node's own: "" refuses them (a loopback shared by every logical node is no link).
  std::string link_fault_interface;
  std::string link_fault_netem;  // bulwark-netem; "": beside the agent's binary
  NodeOverrides node;
};

Result<AgentConfig> ParseAgentConfig(const std::string& yaml_text, const std::string& source);
Result<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace bulwark::agent
