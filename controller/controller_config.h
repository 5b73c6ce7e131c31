// bulwark-controller's YAML config. Every key, its default and meaning: controller/README.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/kube_cordon.h"
#include "netplan/iteration_model.h"

namespace bulwark::controller {

struct ControllerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7070;
  std::string data_dir = "/var/lib/bulwark/controller";
  std::string address_file;  // if set, "host:port" is written here once listening
  int64_t heartbeat_interval_ms = 1000;
  int missed_beats = 3;
  int64_t restart_grace_ms = 15000;
  std::string agent_token_file;
  std::string operator_token_file;
  bool open_reads = false;  // GET endpoints and /metrics without a token
  int64_t max_body_bytes = 1 << 20;
  int64_t max_connections = 60000;
  int64_t idle_timeout_ms = 75000;
  int64_t long_poll_max_ms = 30000;
  int snapshot_k = 4;  // RS(k,m) for jobs' in-memory snapshots
  int snapshot_m = 2;
  // Diagnosis (issue 6): see the README's config reference.
  int64_t hang_ms = 30000;
  int64_t warmup_hang_ms = 120000;   // for a communicator's first collectives; default 4 × hang_ms
  int64_t warmup_collectives = 64;
  int64_t crash_settle_ms = 500;
  double straggler_min_slowdown_percent = 10;
  double imbalance_min_lost_percent = 10;
  double slow_communication_factor = 3;          // the transfer this many times its baseline...
  double slow_communication_min_extra_us = 500;  // ...and this much more: a slow_communication verdict
  double link_slow_fraction = 0.5;  // a probed pair under this share of the typical one is slow (link_matrix.h)
  std::string diagnosis_trace;  // record every diagnosis input here ("" = off)
  KubeOptions kubernetes;  // cordoning fenced nodes (kube_cordon.h)
  // Launching jobs (issue 7): run by each job's first node's agent.
  std::string launch_mpirun = "mpirun";
  std::string launch_rsh_agent;  // Open MPI's plm_rsh_agent; "" = ssh
  std::string launch_hook_library;  // LD_PRELOADed into every rank; "" = none
  std::vector<std::string> launch_mpirun_args;
  int64_t launch_stop_timeout_ms = 10000;
  int64_t launch_restore_timeout_ms = 300000;
  // Traffic planning (issue 10): the fabric's topology file (netplan/); "" = not planned.
  std::string netplan_topology;
  // NIC-aware placement (issue 11): the classes' per-node speeds, netplan's defaults unless set.
  netplan::NicFabric placement_fabric{netplan::DefaultNicClasses(), "ethernet"};
};

Result<ControllerConfig> LoadControllerConfig(const std::string& path);
Result<ControllerConfig> ParseControllerConfig(const std::string& yaml_text, const std::string& source);

}  // namespace bulwark::controller
