#include "controller/ctl_netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace bulwark::ctl {
namespace {

using nlohmann::json;

struct Ran {
  int code;
  std::string output;
};

// Runs a command (ours, built from ids and node names: nothing to quote) and its output.
Ran Sh(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "cannot run " + command};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string HostLink(const std::string& cluster_id) { return "bw" + cluster_id + "-"; }
std::string Bridge(const std::string& cluster_id) { return "bwbr-" + cluster_id; }
std::string NetnsPrefix(const std::string& cluster_id) { return "bulwark-" + cluster_id + "-"; }

}  // namespace

NetnsPlan PlanNetns(const std::string& cluster_id, const std::vector<std::string>& node_names, int attempt) {
  const unsigned long id = std::strtoul(cluster_id.substr(0, 8).c_str(), nullptr, 16);
  const unsigned subnet = static_cast<unsigned>((id + static_cast<unsigned long>(attempt) * 97) % 512);  // 198.18.0.0/15 in /24s
  const std::string base = "198." + std::to_string(18 + subnet / 256) + "." + std::to_string(subnet % 256) + ".";
  NetnsPlan plan;
  plan.netns_prefix = NetnsPrefix(cluster_id);
  plan.bridge = Bridge(cluster_id);
  plan.bridge_address = base + "1";
  for (size_t i = 0; i < node_names.size(); ++i) {
    plan.nodes.push_back({node_names[i], plan.netns_prefix + node_names[i], HostLink(cluster_id) + std::to_string(i + 1),
                          base + std::to_string(11 + i)});
  }
  return plan;
}

json ToJson(const NetnsPlan& plan) {
  json nodes = json::array();
  for (const auto& n : plan.nodes) nodes.push_back({{"name", n.name}, {"netns", n.netns}, {"host_link", n.host_link}, {"address", n.address}});
  return {{"netns_prefix", plan.netns_prefix}, {"bridge", plan.bridge}, {"bridge_address", plan.bridge_address},
          {"prefix_length", plan.prefix_length}, {"nodes", nodes}};
}

NetnsPlan NetnsPlanFromJson(const json& j) {
  NetnsPlan plan;
  plan.netns_prefix = j.value("netns_prefix", std::string());
  plan.bridge = j.value("bridge", std::string());
  plan.bridge_address = j.value("bridge_address", std::string());
  plan.prefix_length = j.value("prefix_length", 24);
  for (const auto& n : j.value("nodes", json::array())) {
    plan.nodes.push_back({n.value("name", std::string()), n.value("netns", std::string()), n.value("host_link", std::string()),
                          n.value("address", std::string())});
  }
  return plan;
}

Result<NetnsPlan> CreateNetns(const std::string& cluster_id, const std::vector<std::string>& node_names) {
  NetnsPlan plan;
  for (int attempt = 0;; ++attempt) {
    if (attempt == 64) return Status::Error("no free /24 left in 198.18.0.0/15 for the cluster's bridge");
    plan = PlanNetns(cluster_id, node_names, attempt);
    const std::string subnet = plan.bridge_address.substr(0, plan.bridge_address.rfind('.')) + ".0/24";
    if (Sh("ip -4 -o addr show to " + subnet).output.empty()) break;
  }
  const std::string len = "/" + std::to_string(plan.prefix_length);
  std::vector<std::string> steps = {
      "ip link add " + plan.bridge + " type bridge",
      "ip addr add " + plan.bridge_address + len + " dev " + plan.bridge,
      "ip link set " + plan.bridge + " up",
  };
  for (const auto& n : plan.nodes) {
    const std::string in = "ip -n " + n.netns + " ";
    steps.insert(steps.end(), {"ip netns add " + n.netns,
                               "ip link add " + n.host_link + " type veth peer name eth0 netns " + n.netns,
                               "ip link set " + n.host_link + " master " + plan.bridge + " up",
                               in + "addr add " + n.address + len + " dev eth0",
                               in + "link set eth0 up",
                               in + "link set lo up"});
  }
  for (const auto& step : steps) {
    const Ran r = Sh(step);
    if (r.code != 0) {
      RemoveNetns(cluster_id);
      return Status::Error("--netns: `" + step + "` failed (" + r.output +
                           "): network namespaces need root and a kernel and container that allow them");
    }
  }
  return plan;
}

NetnsRemoved RemoveNetns(const std::string& cluster_id) {
  NetnsRemoved removed;
  if (cluster_id.empty()) return removed;
  const std::string prefix = NetnsPrefix(cluster_id);
  for (const auto& line : Lines(Sh("ip netns list").output)) {
    const std::string name = line.substr(0, line.find(' '));  // "NAME (id: 3)"
    if (name.rfind(prefix, 0) != 0) continue;
    // What still runs inside (agents, ranks, orted, bulwark-netem) goes with it.
    for (const auto& pid : Lines(Sh("ip netns pids " + name).output)) {
      if (!pid.empty() && ::kill(std::atoi(pid.c_str()), SIGKILL) == 0) ++removed.processes;
    }
    if (Sh("ip netns del " + name).code == 0) ++removed.namespaces;
  }
  // A veth goes with its namespace's end; what is left is the bridge (and ends of a crashed up).
  for (const auto& line : Lines(Sh("ip -o link show").output)) {
    // "7: bwbr-0a1b2c3d: <BROADCAST,...>" or "8: bw0a1b2c3d-1@if2: ..."
    const size_t start = line.find(": ");
    if (start == std::string::npos) continue;
    std::string name = line.substr(start + 2, line.find(':', start + 2) - start - 2);
    name = name.substr(0, name.find('@'));
    if (name == Bridge(cluster_id) || name.rfind(HostLink(cluster_id), 0) == 0) {
      if (Sh("ip link del " + name).code == 0) ++removed.links;
    }
  }
  return removed;
}

bool EnterNetns(const std::string& netns) {
  const int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

}  // namespace bulwark::ctl
