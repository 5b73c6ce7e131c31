#include "controller/ctl_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/token.h"
#include "controller/ctl_db_disk.h"
#include "controller/ctl_netns.h"
#include "controller/ctl_table.h"

namespace bulwark::ctl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// A pid is ours only if it is alive and still runs our program with our config (pids get
// reused after a reboot or a long time).
bool Running(int pid, const std::string& config) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  if (cmdline.find(config) == std::string::npos) return false;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || stat.substr(paren + 2, 1) != "Z";  // not a zombie
}

// Starts a daemon in its own session, with output appended to `log`; in network
// namespace `netns` when one is named, knowing where its peers' namespaces are.
int Spawn(const std::string& binary, const std::string& config, const std::string& log, const std::string& netns = "",
          const std::string& netns_prefix = "") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    if (!netns.empty()) {
      if (!EnterNetns(netns)) {
        std::fprintf(stderr, "bulwarkctl: cannot enter network namespace %s\n", netns.c_str());
        ::_exit(127);
      }
      // scripts/launch-local starts each node's share of a job inside that node's namespace.
      ::setenv("BULWARK_NETNS_PREFIX", netns_prefix.c_str(), 1);
    }
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::close_range(3, ~0U, 0);  // a daemon keeps none of bulwarkctl's descriptors
    ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), nullptr);
    ::_exit(127);
  }
  return pid;
}

// A free port for the controller, below Linux's ephemeral range (32768-60999 by default).
// A port from bind(0) is in that range, and between this probe and the controller's bind
// any outgoing connection on the machine may be given it: under a parallel test suite one
// was, and the controller failed to start. Ports below the range are only ever taken on
// purpose; the same holds when a killed controller rebinds its port.
uint16_t FreePort() {
  std::random_device random;
  for (int attempt = 0; attempt < 200; ++attempt) {
    const uint16_t port = static_cast<uint16_t>(20000 + random() % 12000);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);  // free on every address: the bridge's too (--netns)
    addr.sin_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

bool WaitFor(const std::function<bool()>& ready, int timeout_ms) {
  const int64_t until = MonotonicMs() + timeout_ms;
  while (MonotonicMs() < until) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ready();
}

std::string NodeName(bool spare, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%s-%02d", spare ? "spare" : "node", index);
  return name;
}

std::string ControllerYaml(const std::string& dir, const std::string& host, uint16_t port, const ClusterUpOptions& o) {
  return "# Written by bulwarkctl cluster up.\n"
         "listen: " + host + ":" + std::to_string(port) + "\n"
         "data_dir: " + dir + "/db\n"
         "address_file: " + dir + "/controller.addr\n"
         "heartbeat:\n  interval_ms: " + std::to_string(o.heartbeat_ms) + "\n  missed_beats: " +
         std::to_string(o.missed_beats) + "\n  restart_grace_ms: " + std::to_string(o.restart_grace_ms) + "\n"
         "auth:\n  agent_token_file: " + dir + "/tokens/agent.token\n  operator_token_file: " + dir +
         "/tokens/operator.token\n"
         "snapshots: {k: " + std::to_string(o.snapshot_k) + ", m: " + std::to_string(o.snapshot_m) + "}\n"
         // All logical nodes share this machine's cores: clean 2-rank runs here show 20-step
         // windows of one rank up to 26% late (in 3 of 4 collectives) and 100-collective
         // windows with up to 25% of compute lost to moving lateness (measured with bulwarkctl
         // replay on recorded clean runs), so verdicts need more than that.
         "diagnosis: {hang_ms: " + std::to_string(o.hang_ms) +
         ", straggler_min_slowdown_percent: 30, imbalance_min_lost_percent: 35,\n"
         // Jobs' ranks talk over loopback TCP between logical nodes, on the cores that also
         // erasure-code their snapshots: a 4-node job's transfers grew 3.4x with nothing
         // broken, which named two healthy NICs slow. Links here are slowed on purpose only.
         "            slow_communication_factor: 10, slow_communication_min_extra_us: 5000,\n"
         // The link probes run concurrently on the same two cores: healthy pairs measured
         // from 461 to 2600 MB/s in one matrix. A slow NIC is 100x off, not 2x.
         "            link_slow_fraction: 0.2,\n"
         "            record: " + dir + "/diagnosis.jsonl}\n"
         // Jobs reach the logical nodes the way they would reach hosts: mpirun starts its
         // daemon "on" each node through a remote-launch agent, here one that runs it locally.
         "launch:\n"
         "  mpirun: " + o.bin_dir + "/bulwark-mpirun\n"
         "  rsh_agent: " + o.bin_dir + "/bulwark-launch-local\n"
         "  hook_library: " + o.bin_dir + "/../lib/libbulwark-pmpi.so\n"
         // In namespaces, Open MPI's daemons and ranks would also offer each other their
         // loopback addresses, which lead nowhere outside their own namespace.
         "  mpirun_args: [--bind-to, none" +
         std::string(o.netns ? ", --mca, oob_tcp_if_include, eth0, --mca, btl_tcp_if_include, eth0" : "") + "]\n"
         "netplan: {topology: " + dir + "/fabric.yaml}\n";
}

// Names this cluster's shared memory and hook sockets. Random, not the pid: pids wrap
// (32768 here), and a new cluster under an old cluster's prefix met that cluster's
// leftover snapshot slots of a job with the same id, reported them as held, and stalled
// its ranks' commits behind steps it never wrote.
std::string NewClusterId() {
  std::random_device random;
  char id[16];
  std::snprintf(id, sizeof(id), "%08x", static_cast<unsigned>(random()));
  return id;
}

std::string ShmPrefix(const std::string& cluster_id, const std::string& name) { return "bulwark-" + cluster_id + "-" + name; }

// Two racks share a leaf switch, as the agents' failure domains say.
int RackOf(int index, const ClusterUpOptions& o) { return index / o.nodes_per_rack + 1; }
int LeafOf(int index, const ClusterUpOptions& o) { return (RackOf(index, o) + 1) / 2; }

// The fabric the controller plans jobs' traffic on (netplan/): every node's one NIC on
// its leaf, and two spines, so that a leaf-spine link can be reported down and planned
// around. The leaves' names are the agents' failure-domain leaves.
std::string FabricYaml(const std::vector<std::string>& names, const ClusterUpOptions& o) {
  std::string yaml = "# Written by bulwarkctl cluster up: the local cluster's fabric for traffic planning.\n"
                     "name: local-cluster\nlink_gbps: 100\nspines:\n  - {name: spine-1}\n  - {name: spine-2}\nleaves:\n";
  const int leaves = LeafOf(static_cast<int>(names.size()) - 1, o);
  for (int l = 1; l <= leaves; ++l) yaml += "  - {name: leaf-" + std::to_string(l) + "}\n";
  yaml += "hosts:\n";
  for (size_t i = 0; i < names.size(); ++i) {
    yaml += "  - {name: " + names[i] + ", nics: [{name: eth0, leaf: leaf-" + std::to_string(LeafOf(static_cast<int>(i), o)) +
            ", gbps: 100}]}\n";
  }
  return yaml;
}

// `address`: the node's own (--netns), or "" for this machine's loopback.
std::string AgentYaml(const std::string& dir, const std::string& url, const std::string& name, bool spare,
                      int index, const std::string& cluster_id, const std::string& address, const ClusterUpOptions& o) {
  const std::string host = address.empty() ? "127.0.0.1" : address;
  const int rack = RackOf(index, o), leaf = LeafOf(index, o);
  const std::string node_dir = dir + "/nodes/" + name;
  return "# Written by bulwarkctl cluster up: one logical node of a local cluster.\n"
         "controller: " + url + "\n"
         "token_file: " + dir + "/tokens/agent.token\n"
         "listen: " + host + ":0\n"
         "address_file: " + node_dir + "/agent.addr\n"
         "work_dir: " + node_dir + "/work\n"
         "shm_prefix: /" + ShmPrefix(cluster_id, name) + "\n"
         "hooks: {socket: '@" + ShmPrefix(cluster_id, name) + "', local_hang_ms: " +
         std::to_string(o.local_hang_ms) + "}\n"
         // The reference trainer's steps here take tens of milliseconds (real ones take
         // seconds): ship 4 times a second so that a straggler is named within 20 steps.
         "telemetry_interval_ms: 250\n"
         "snapshot: {listen: " + host + ":0}\n" +
         (address.empty() ? std::string() : "link_faults: {interface: eth0}\n") +
         // Every logical node shares this machine's cores: a self-check under another
         // node's load measures far below its idle baseline without anything being broken.
         "self_check: {min_fraction_of_baseline: 0.2}\n"
         "role: " + (spare ? "spare" : "worker") + "\n"
         "heartbeat_interval_ms: " + std::to_string(o.heartbeat_ms) + "\n"
         "node:\n"
         "  name: " + name + "\n"
         "  failure_domain: {rack: rack-" + std::to_string(rack) + ", leaf: leaf-" + std::to_string(leaf) + "}\n"
         "  gpus: 0\n"
         "  nics:\n"
         "    - {name: eth0, type: " + (o.nic_classes.empty() ? std::string("ethernet") : o.nic_classes[index % o.nic_classes.size()]) +
         ", speed_gbps: 100, rail: 0, address: " + host + "}\n";
}

// Restarts whatever member of the cluster is not running. Returns how many it started.
int StartMissing(json& state, const std::string& bin_dir) {
  int started = 0;
  const std::string dir = state["dir"];
  auto& controller = state["controller"];
  if (!Running(controller["pid"], controller["config"])) {
    fs::remove(dir + "/controller.addr");
    controller["pid"] = Spawn(bin_dir + "/bulwark-controller", controller["config"], dir + "/logs/controller.log");
    ++started;
    WriteFile(dir + "/cluster.json", state.dump(2) + "\n");  // `down` finds it even if this tool dies now
    if (!WaitFor([&] { return fs::exists(dir + "/controller.addr"); }, 15000)) {
      std::fprintf(stderr, "bulwarkctl: the controller did not start; see %s/logs/controller.log\n", dir.c_str());
      return -1;
    }
  }
  for (auto& agent : state["agents"]) {
    if (Running(agent["pid"], agent["config"])) continue;
    const std::string name = agent["name"];
    agent["pid"] = Spawn(bin_dir + "/bulwark-agent", agent["config"], dir + "/logs/" + name + ".log", agent.value("netns", std::string()),
                         state.contains("netns") ? state["netns"].value("netns_prefix", std::string()) : std::string());
    ++started;
    WriteFile(dir + "/cluster.json", state.dump(2) + "\n");
  }
  return started;
}

json GetJson(http::Client& client, const std::string& path) {
  auto r = client.Send("GET", path);
  if (!r.ok() || r->status != 200) return json();
  json j = json::parse(r->body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

void PrintNodes(const json& nodes) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : nodes) {
    rows.push_back({n["name"], n["role"], n["health"], n["drained"].get<bool>() ? "yes" : "no",
                    n["failure_domain"]["rack"], n["agent_url"]});
  }
  std::printf("%s", RenderTable({"NODE", "ROLE", "HEALTH", "DRAINED", "RACK", "AGENT"}, rows).c_str());
}

}  // namespace

bool ReadClusterEndpoint(const std::string& dir, std::string* url, std::string* operator_token_file) {
  json state = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  if (state.is_discarded() || !state.contains("controller")) return false;
  *url = state["controller"]["url"];
  *operator_token_file = state["operator_token_file"];
  return true;
}

int ClusterUp(const ClusterUpOptions& o) {
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  const std::string dir = fs::absolute(o.dir).lexically_normal().string();
  json state = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  const bool existing = !state.is_discarded() && state.contains("controller");
  if (!existing) {
    for (const char* sub : {"tokens", "logs", "nodes", "db"}) fs::create_directories(dir + "/" + sub, ec);
    for (const char* token : {"agent", "operator"}) {
      Status s = WriteNewTokenFile(dir + "/tokens/" + token + ".token");
      if (!s.ok()) {
        std::fprintf(stderr, "bulwarkctl: %s\n", s.message().c_str());
        return 1;
      }
    }
    const uint16_t port = FreePort();
    if (port == 0) {
      std::fprintf(stderr, "bulwarkctl: no free port for the controller between 20000 and 31999\n");
      return 1;
    }
    const std::string cluster_id = NewClusterId();
    std::vector<std::string> names;
    for (int i = 0; i < o.nodes + o.spares; ++i) names.push_back(i >= o.nodes ? NodeName(true, i - o.nodes + 1) : NodeName(false, i + 1));
    state = {{"dir", dir},
             {"id", cluster_id},
             {"controller", {{"pid", 0}, {"url", ""}, {"config", dir + "/controller.yaml"}}},
             {"operator_token_file", dir + "/tokens/operator.token"},
             {"agents", json::array()}};
    std::string controller_host = "127.0.0.1";
    std::vector<std::string> addresses(names.size());
    if (o.netns) {
      // Recorded before anything is made: `cluster down` finds it all by this id even if
      // this tool dies halfway.
      state["netns"] = json::object();
      WriteFile(dir + "/cluster.json", state.dump(2) + "\n");
      auto plan = CreateNetns(cluster_id, names);
      if (plan.ok()) {
        state["netns"] = ToJson(plan.value());
        controller_host = plan->bridge_address;
        for (size_t i = 0; i < names.size(); ++i) addresses[i] = plan->nodes[i].address;
      } else {
        // The cluster still runs, as one without --netns; its agents refuse link faults.
        std::fprintf(stderr, "bulwarkctl: %s; falling back to nodes on this machine's loopback (link faults will be refused)\n",
                     plan.status().message().c_str());
        state.erase("netns");
      }
    }
    const std::string url = "http://" + controller_host + ":" + std::to_string(port);
    state["controller"]["url"] = url;
    ClusterUpOptions made = o;
    made.netns = state.contains("netns");
    WriteFile(dir + "/fabric.yaml", FabricYaml(names, o));
    WriteFile(dir + "/controller.yaml", ControllerYaml(dir, controller_host, port, made));
    for (size_t i = 0; i < names.size(); ++i) {
      const bool spare = static_cast<int>(i) >= o.nodes;
      const std::string& name = names[i];
      fs::create_directories(dir + "/nodes/" + name + "/work", ec);
      const std::string config = dir + "/nodes/" + name + "/agent.yaml";
      WriteFile(config, AgentYaml(dir, url, name, spare, static_cast<int>(i), cluster_id, addresses[i], o));
      json agent = {{"name", name}, {"pid", 0}, {"config", config}, {"role", spare ? "spare" : "worker"},
                    {"shm_prefix", ShmPrefix(cluster_id, name)}};
      if (made.netns) agent.update({{"netns", state["netns"]["nodes"][i]["netns"]}, {"address", addresses[i]}});
      state["agents"].push_back(agent);
    }
  }
  if (existing && state.contains("netns")) {
    const json nodes = state["netns"].value("nodes", json::array());
    if (nodes.empty() || !fs::exists("/run/netns/" + nodes[0].value("netns", std::string()))) {
      std::fprintf(stderr, "bulwarkctl: the cluster in %s has no network namespaces (gone, or its `up` was cut short); "
                   "`cluster down` and up again\n", dir.c_str());
      return 1;
    }
  }
  // Before the controller starts: its database may live on a filesystem of its own.
  if (Status s = MountDbDisk(dir, existing ? 0 : o.db_size_bytes); !s.ok()) {
    std::fprintf(stderr, "bulwarkctl: %s\n", s.message().c_str());
    return 1;
  }
  const int started = StartMissing(state, o.bin_dir);
  WriteFile(dir + "/cluster.json", state.dump(2) + "\n");
  if (started < 0) return 1;

  // Wait until every agent has registered.
  std::string token_file = state["operator_token_file"];
  auto token = ReadTokenFile(token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "bulwarkctl: %s\n", token.status().message().c_str());
    return 1;
  }
  http::Client client(state["controller"]["url"], token.value(), 2000);
  const size_t want = state["agents"].size();
  json nodes;
  const bool ready = WaitFor(
      [&] {
        nodes = GetJson(client, "/v1/nodes");
        if (!nodes.contains("nodes")) return false;
        size_t online = 0;  // registered and heartbeating (an isolated node stays isolated)
        for (const auto& n : nodes["nodes"]) online += n["online"].get<bool>() && n["registrations"].get<int>() > 0;
        return online >= want;
      },
      20000);
  std::printf("%s local cluster in %s: controller %s, %zu agents (%d process%s started)\n",
              existing ? "Resumed" : "Started", dir.c_str(), state["controller"]["url"].get<std::string>().c_str(),
              want, started, started == 1 ? "" : "es");
  if (nodes.contains("nodes")) PrintNodes(nodes["nodes"]);
  std::printf("Dashboard: %s/ui/ (operator token in %s)\n", state["controller"]["url"].get<std::string>().c_str(),
              state["operator_token_file"].get<std::string>().c_str());
  if (!ready) {
    std::fprintf(stderr, "bulwarkctl: not every agent registered within 20 s; see %s/logs/\n", dir.c_str());
    return 1;
  }
  return 0;
}

int StrikeController(const std::string& dir_in, int64_t down_ms, const std::string& bin_dir) {
  const std::string dir = fs::absolute(dir_in).lexically_normal().string();
  json state = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  if (state.is_discarded()) {
    std::fprintf(stderr, "bulwarkctl: kill-controller needs a local cluster; none runs in %s\n", dir.c_str());
    return 4;
  }
  auto& c = state["controller"];
  if (Running(c["pid"], c["config"])) ::kill(c["pid"].get<int>(), SIGKILL);
  if (!WaitFor([&] { return !Running(c["pid"], c["config"]); }, 5000)) {
    std::fprintf(stderr, "bulwarkctl: the controller (pid %d) survived SIGKILL for 5 s\n", c["pid"].get<int>());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(down_ms));
  const int started = StartMissing(state, bin_dir);
  WriteFile(dir + "/cluster.json", state.dump(2) + "\n");
  if (started < 0) return 1;
  auto token = ReadTokenFile(state["operator_token_file"]);
  http::Client client(c["url"], token.ok() ? token.value() : "", 2000);
  if (!WaitFor([&] { return !GetJson(client, "/v1/cluster").is_null(); }, 15000)) {
    std::fprintf(stderr, "bulwarkctl: the controller did not answer within 15 s of its restart; see %s/logs/controller.log\n", dir.c_str());
    return 1;
  }
  return 0;
}

int ClusterStatus(const std::string& dir_in) {
  const std::string dir = fs::absolute(dir_in).lexically_normal().string();
  json state = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  if (state.is_discarded()) {
    std::fprintf(stderr, "bulwarkctl: no local cluster in %s (start one with: bulwarkctl cluster up --dir %s)\n",
                 dir.c_str(), dir.c_str());
    return 4;
  }
  std::vector<std::vector<std::string>> rows;
  auto& c = state["controller"];
  const bool controller_up = Running(c["pid"], c["config"]);
  rows.push_back({"controller", std::to_string(c["pid"].get<int>()), controller_up ? "running" : "down", c["url"]});
  int down = controller_up ? 0 : 1;
  for (const auto& a : state["agents"]) {
    const bool up = Running(a["pid"], a["config"]);
    down += up ? 0 : 1;
    rows.push_back({a["name"], std::to_string(a["pid"].get<int>()), up ? "running" : "down",
                    ReadFile(dir + "/nodes/" + a["name"].get<std::string>() + "/agent.addr").substr(0, 21)});
  }
  for (auto& r : rows) {
    while (!r[3].empty() && (r[3].back() == '\n')) r[3].pop_back();
  }
  std::printf("%s", RenderTable({"PROCESS", "PID", "STATE", "ADDRESS"}, rows).c_str());
  std::printf("%d of %zu processes down\n", down, rows.size());
  return down == 0 ? 0 : 1;
}

int ClusterDown(const std::string& dir_in) {
  const std::string dir = fs::absolute(dir_in).lexically_normal().string();
  json state = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  if (state.is_discarded()) {
    std::printf("no local cluster in %s: nothing to stop\n", dir.c_str());
    return 0;
  }
  std::vector<std::pair<int, std::string>> members;
  for (const auto& a : state["agents"]) members.emplace_back(a["pid"], a["config"]);
  members.emplace_back(state["controller"]["pid"], state["controller"]["config"]);
  int stopped = 0;
  for (const auto& [pid, config] : members) {
    if (Running(pid, config)) {
      ::kill(pid, SIGTERM);
      ++stopped;
    }
  }
  const bool all_gone = WaitFor(
      [&] {
        for (const auto& [pid, config] : members) {
          if (Running(pid, config)) return false;
        }
        return true;
      },
      8000);
  if (!all_gone) {
    for (const auto& [pid, config] : members) {
      if (Running(pid, config)) ::kill(pid, SIGKILL);
    }
  }
  // The nodes' memory goes with them: snapshot slots and parity fragments.
  int removed = 0;
  std::error_code ec;
  for (const auto& a : state["agents"]) {
    const std::string head = a.value("shm_prefix", std::string()) + ".";
    if (head.size() < 2) continue;  // a cluster from before prefixes were recorded
    for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
      if (e.path().filename().string().rfind(head, 0) == 0 && fs::remove(e.path(), ec)) ++removed;
    }
  }
  if (Status s = UnmountDbDisk(dir); !s.ok()) std::fprintf(stderr, "bulwarkctl: %s\n", s.message().c_str());
  std::string network;
  if (state.contains("netns")) {
    // By the cluster's id, not the record: what a crashed `up` made is found as well.
    const NetnsRemoved gone = RemoveNetns(state.value("id", std::string()));
    network = ", removed " + std::to_string(gone.namespaces) + " network namespaces (killing " + std::to_string(gone.processes) +
              " processes left in them) and " + std::to_string(gone.links) + " links";
  }
  fs::rename(dir + "/cluster.json", dir + "/cluster.down.json");
  std::printf("Stopped %d processes of the local cluster in %s%s%s and freed %d shared-memory objects; state and logs kept there\n",
              stopped, dir.c_str(), all_gone ? "" : " (some needed SIGKILL)", network.c_str(), removed);
  return 0;
}

}  // namespace bulwark::ctl
