#include "agent/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace bulwark::agent {
namespace {

namespace fs = std::filesystem;

std::string ReadLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void DiscoverNics(const fs::path& sys, NodeInfo* info) {
  std::vector<Nic> physical, virtual_nics;
  std::map<std::string, size_t> index;  // netdev name -> position in `physical`
  for (const auto& name : ListDir(sys / "class/net")) {
    if (name == "lo") continue;
    const fs::path dev = sys / "class/net" / name;
    Nic nic;
    nic.name = name;
    nic.type = ReadLine(dev / "type") == "32" ? "ib" : "ethernet";  // ARPHRD_INFINIBAND
    const long mbps = std::atol(ReadLine(dev / "speed").c_str());
    nic.speed_gbps = mbps > 0 ? mbps / 1000.0 : 0;
    std::error_code ec;
    if (fs::exists(dev / "device", ec)) {
      index[name] = physical.size();
      physical.push_back(nic);
    } else {
      virtual_nics.push_back(nic);
    }
  }
  // RDMA devices: give their netdevs the right type and speed, and list ports that have no
  // netdev (InfiniBand without IPoIB) under "device:port".
  for (const auto& dev : ListDir(sys / "class/infiniband")) {
    const fs::path base = sys / "class/infiniband" / dev;
    const auto netdevs = ListDir(base / "device/net");
    for (const auto& port : ListDir(base / "ports")) {
      const std::string layer = ReadLine(base / "ports" / port / "link_layer");
      const std::string type = layer == "InfiniBand" ? "ib" : "roce";
      const double gbps = ParseInfinibandRate(ReadLine(base / "ports" / port / "rate"));
      bool matched = false;
      for (const auto& netdev : netdevs) {
        auto it = index.find(netdev);
        if (it == index.end()) continue;
        physical[it->second].type = type;
        if (physical[it->second].speed_gbps == 0) physical[it->second].speed_gbps = gbps;
        matched = true;
      }
      if (!matched) {
        Nic nic;
        nic.name = dev + ":" + port;
        nic.type = type;
        nic.speed_gbps = gbps;
        physical.push_back(nic);
      }
    }
  }
  // A container sees only virtual links; report them rather than nothing.
  info->nics = physical.empty() ? virtual_nics : physical;
}

void DiscoverAddresses(NodeInfo* info) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (!::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text))) continue;
    const std::string address = text;
    if (address.rfind("127.", 0) == 0) continue;
    info->addresses.push_back(address);
    for (auto& nic : info->nics) {
      if (nic.name == a->ifa_name && nic.address.empty()) nic.address = address;
    }
  }
  ::freeifaddrs(list);
}

void DiscoverProc(const fs::path& proc, NodeInfo* info) {
  std::ifstream cpuinfo(proc / "cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("processor", 0) == 0) ++info->cpus;
    if (info->cpu_model.empty() && line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) info->cpu_model = line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  std::ifstream meminfo(proc / "meminfo");
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0) info->memory_bytes = std::atoll(line.c_str() + 9) * 1024;
  }
  info->gpus = static_cast<int>(ListDir(proc / "driver/nvidia/gpus").size());
}

}  // namespace

double ParseInfinibandRate(const std::string& rate) { return std::atof(rate.c_str()); }

NodeInfo DiscoverNode(const std::string& sysfs_root, const std::string& procfs_root) {
  NodeInfo info;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  info.hostname = host;
  info.name = IsValidNodeName(info.hostname) ? info.hostname : "node";
  DiscoverNics(sysfs_root, &info);
  DiscoverAddresses(&info);
  DiscoverProc(procfs_root, &info);
  return info;
}

NodeInfo ApplyOverrides(NodeInfo info, const NodeOverrides& o) {
  if (o.name) info.name = *o.name;
  if (o.hostname) info.hostname = *o.hostname;
  if (o.rack) info.rack = *o.rack;
  if (o.leaf) info.leaf = *o.leaf;
  if (o.cpu_model) info.cpu_model = *o.cpu_model;
  if (o.addresses) info.addresses = *o.addresses;
  if (o.gpus) info.gpus = *o.gpus;
  if (o.cpus) info.cpus = *o.cpus;
  if (o.memory_bytes) info.memory_bytes = *o.memory_bytes;
  if (o.nics) info.nics = *o.nics;
  return info;
}

}  // namespace bulwark::agent
