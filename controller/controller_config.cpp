#include "controller/controller_config.h"

#include <fstream>
#include <sstream>

#include "common/host_port.h"
#include "common/strict_yaml.h"

namespace bulwark::controller {

Result<ControllerConfig> ParseControllerConfig(const std::string& yaml_text, const std::string& source) {
  ControllerConfig c;
  try {
    StrictMap root(ParseYaml(yaml_text, source), source);
    const std::string listen = root.String("listen", "127.0.0.1:7070");
    Status s = ParseHostPort(listen, &c.listen_host, &c.listen_port);
    if (!s.ok()) root.Fail("listen", s.message());
    c.data_dir = root.String("data_dir", c.data_dir);
    c.address_file = root.String("address_file", "");
    auto heartbeat = root.Map("heartbeat");
    c.heartbeat_interval_ms = heartbeat.Int("interval_ms", 1000, 50, 600000);
    c.missed_beats = static_cast<int>(heartbeat.Int("missed_beats", 3, 1, 1000));
    c.restart_grace_ms = heartbeat.Int("restart_grace_ms", 15000, 0, 3600000);
    heartbeat.Finish();
    auto auth = root.Map("auth");
    if (!auth.Has("agent_token_file")) auth.Fail("agent_token_file", "is required");
    if (!auth.Has("operator_token_file")) auth.Fail("operator_token_file", "is required");
    c.agent_token_file = auth.String("agent_token_file", "");
    c.operator_token_file = auth.String("operator_token_file", "");
    c.open_reads = auth.Bool("open_reads", false);
    auth.Finish();
    auto http = root.Map("http");
    c.max_body_bytes = http.Int("max_body_bytes", 1 << 20, 1024, 1 << 30);
    c.max_connections = http.Int("max_connections", 60000, 1, 1000000);
    c.idle_timeout_ms = http.Int("idle_timeout_ms", 75000, 100, 3600000);
    c.long_poll_max_ms = http.Int("long_poll_max_ms", 30000, 100, 600000);
    http.Finish();
    auto snapshots = root.Map("snapshots");
    c.snapshot_k = static_cast<int>(snapshots.Int("k", c.snapshot_k, 1, 32));
    c.snapshot_m = static_cast<int>(snapshots.Int("m", c.snapshot_m, 1, 32));
    snapshots.Finish();
    auto diagnosis = root.Map("diagnosis");
    c.hang_ms = diagnosis.Int("hang_ms", c.hang_ms, 100, 3600000);
    c.warmup_hang_ms = diagnosis.Int("warmup_hang_ms", 4 * c.hang_ms, c.hang_ms, 4 * 3600000);
    c.warmup_collectives = diagnosis.Int("warmup_collectives", c.warmup_collectives, 0, 1000000);
    c.crash_settle_ms = diagnosis.Int("crash_settle_ms", c.crash_settle_ms, 0, 60000);
    c.straggler_min_slowdown_percent =
        diagnosis.Double("straggler_min_slowdown_percent", c.straggler_min_slowdown_percent, 1, 1000);
    c.imbalance_min_lost_percent = diagnosis.Double("imbalance_min_lost_percent", c.imbalance_min_lost_percent, 0, 100);
    c.slow_communication_factor = diagnosis.Double("slow_communication_factor", c.slow_communication_factor, 1.1, 1000);
    c.slow_communication_min_extra_us =
        diagnosis.Double("slow_communication_min_extra_us", c.slow_communication_min_extra_us, 0, 1e9);
    c.link_slow_fraction = diagnosis.Double("link_slow_fraction", c.link_slow_fraction, 0.01, 0.99);
    c.diagnosis_trace = diagnosis.String("record", "");
    diagnosis.Finish();
    auto kube = root.Map("kubernetes");
    c.kubernetes.cordon = kube.Bool("cordon", false);
    c.kubernetes.api_server = kube.String("api_server", "");
    c.kubernetes.token_file = kube.String("token_file", c.kubernetes.token_file);
    c.kubernetes.ca_file = kube.String("ca_file", c.kubernetes.ca_file);
    c.kubernetes.timeout_ms = kube.Int("timeout_ms", c.kubernetes.timeout_ms, 100, 600000);
    kube.Finish();
    auto launch = root.Map("launch");
    c.launch_mpirun = launch.String("mpirun", c.launch_mpirun);
    if (c.launch_mpirun.empty()) launch.Fail("mpirun", "must name the MPI launcher");
    c.launch_rsh_agent = launch.String("rsh_agent", "");
    c.launch_hook_library = launch.String("hook_library", "");
    c.launch_mpirun_args = launch.StringList("mpirun_args");
    c.launch_stop_timeout_ms = launch.Int("stop_timeout_ms", c.launch_stop_timeout_ms, 100, 600000);
    c.launch_restore_timeout_ms = launch.Int("restore_timeout_ms", c.launch_restore_timeout_ms, 1000, 86400000);
    launch.Finish();
    auto netplan = root.Map("netplan");
    c.netplan_topology = netplan.String("topology", "");
    netplan.Finish();
    auto placement = root.Map("placement");
    for (StrictMap& k : placement.MapList("nic_classes")) {
      const std::string name = k.String("name", "", {"ib", "roce", "ethernet"});  // what agents report
      if (name.empty()) k.Fail("name", "every NIC class needs a name: ib, roce or ethernet");
      netplan::NicClass* known = nullptr;
      for (netplan::NicClass& cls : c.placement_fabric.classes) {
        if (cls.name == name) known = &cls;
      }
      known->gbps = k.Double("gbps", known->gbps, 1e-3, 1e6);
      known->latency_us = k.Double("latency_us", known->latency_us, 0, 1e6);
      k.Finish();
    }
    c.placement_fabric.between_groups = placement.String("between_groups", "ethernet", {"ib", "roce", "ethernet"});
    placement.Finish();
    root.Finish();
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
  return c;
}

Result<ControllerConfig> LoadControllerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseControllerConfig(ss.str(), path);
}

}  // namespace bulwark::controller
