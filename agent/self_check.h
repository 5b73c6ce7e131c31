// Self-checks an agent runs when asked: a node a verdict blamed, or one back from heartbeat
// loss, must pass them before it is trusted again. Node basics, plus measured checks
// (memory bandwidth, CPU arithmetic, loopback TCP, round trips to peer agents) compared
// against the node's own baseline, recorded the first time they ran (at admission).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark::agent {

struct SelfCheckOptions {
  std::string work_dir;
  std::string procfs_root = "/proc";
  std::vector<std::string> only;         // run just these (empty: all)
  std::vector<std::string> forced_fail;  // fault injection: report these as failed
  std::string baseline_path;             // measured checks' first values ("" = no baseline)
  double min_fraction_of_baseline = 0.5;  // a measured rate below this share of its baseline fails
  std::vector<std::string> peers;        // "host:port" of peer agents for peer_latency
  // mpi_pingpong_allreduce runs only when asked (run_mpi, or named in `only`): an MPI job's
  // time depends on everything else on the node's cores, so it is not part of the automatic
  // checks that decide an eviction. The launcher (scripts/mpirun's flags) and
  // bulwark-mpi-check; either empty: skipped. No hosts: two ranks on this node.
  bool run_mpi = false;
  std::string mpi_launcher;
  std::string mpi_program;
  std::vector<std::string> mpi_program_args;  // fault injection in tests (--corrupt-rank)
  std::vector<std::string> mpi_hosts;
  int64_t mpi_timeout_ms = 30000;
  // gpu_memory and nccl_allreduce: bulwark-gpu-check ("": not built here, both skipped), the
  // libraries it loads, and how many GPUs the node should have (fewer seen fails).
  std::string gpu_program;
  std::string cuda_library = "libcuda.so.1";
  std::string nccl_library = "libnccl.so.2";
  int expected_gpus = 0;
  int64_t gpu_timeout_ms = 60000;
};

// {"passed": bool, "summary": "...", "checks": [{"name", "ok", "detail", "value"?, "unit"?,
//  "baseline"?, "skipped"?}]}. A skipped check (nothing to run it with here) counts as passed.
nlohmann::json RunSelfChecks(const SelfCheckOptions& options);

// The names RunSelfChecks knows.
std::vector<std::string> SelfCheckNames();

}  // namespace bulwark::agent
