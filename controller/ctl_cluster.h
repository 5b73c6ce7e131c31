// `bulwarkctl cluster up|status|down`: a controller and N+S agents on this machine as
// separate processes, each agent a logical node with its own name, port, shared-memory
// namespace, work directory and failure domain. Everything lives under one directory:
//   cluster.json            who runs where (pids, URL, token files)
//   controller.yaml, db/    the controller's config and RocksDB state (db.img mounted on
//                           db/ when the database has a filesystem of its own)
//   tokens/                 agent and operator tokens (mode 0600)
//   nodes/<name>/           each agent's config and work directory
//   logs/                   every process's output
// With --netns, cluster.json also holds the namespaces, bridge and addresses (ctl_netns.h).
// `up` on a directory whose cluster is partly down restarts what is missing, with the same
// configs and state (the controller keeps its port so agents find it again).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark::ctl {

struct ClusterUpOptions {
  std::string dir;
  int nodes = 4;
  int spares = 1;
  int nodes_per_rack = 2;
  int heartbeat_ms = 1000;
  int missed_beats = 3;
  int restart_grace_ms = 15000;
  int local_hang_ms = 60000;  // agents' threshold for a rank stuck inside one collective
  int hang_ms = 30000;        // the controller's diagnosis threshold for a hang
  int snapshot_k = 2, snapshot_m = 1;  // RS(k,m) of in-memory snapshots (small: few nodes here)
  uint64_t db_size_bytes = 0;  // > 0: the database on a filesystem of its own (ctl_db_disk.h)
  bool netns = false;          // every node in a network namespace of its own (ctl_netns.h)
  // The NIC class node i reports (workers, then spares; the list repeats); empty: ethernet.
  // Only placement reads it: the data still moves over loopback or the node's veth.
  std::vector<std::string> nic_classes;
  std::string bin_dir;  // where bulwark-controller and bulwark-agent are
};

// Each returns a process exit code and prints what it did.
int ClusterUp(const ClusterUpOptions& options);
int ClusterStatus(const std::string& dir);
int ClusterDown(const std::string& dir);

// kill-controller, injected: SIGKILLs the local cluster's controller, keeps it down for
// `down_ms`, starts it again with the same config and state, and waits until it answers.
int StrikeController(const std::string& dir, int64_t down_ms, const std::string& bin_dir);

// For other commands: the controller URL and operator token file of a local cluster.
bool ReadClusterEndpoint(const std::string& dir, std::string* url, std::string* operator_token_file);

}  // namespace bulwark::ctl
