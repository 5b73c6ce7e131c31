#include "netplan/ecmp.h"

#include <array>

namespace bulwark::netplan {
namespace {

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

uint32_t SwitchHash::operator()(const FiveTuple& t) const {
  const uint8_t bytes[13] = {static_cast<uint8_t>(t.src_ip >> 24), static_cast<uint8_t>(t.src_ip >> 16),
                             static_cast<uint8_t>(t.src_ip >> 8),  static_cast<uint8_t>(t.src_ip),
                             static_cast<uint8_t>(t.dst_ip >> 24), static_cast<uint8_t>(t.dst_ip >> 16),
                             static_cast<uint8_t>(t.dst_ip >> 8),  static_cast<uint8_t>(t.dst_ip),
                             static_cast<uint8_t>(t.src_port >> 8), static_cast<uint8_t>(t.src_port),
                             static_cast<uint8_t>(t.dst_port >> 8), static_cast<uint8_t>(t.dst_port),
                             t.protocol};
  uint32_t crc = ~seed;
  for (uint8_t b : bytes) crc = CrcTable()[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t NicAddress(const Topology& t, int nic) {
  const Nic& n = t.nics[nic];
  const uint32_t second = static_cast<uint32_t>(n.plane * 64 + n.rail) & 0xFF;
  return (10u << 24) | (second << 16) | ((static_cast<uint32_t>(n.host) >> 8 & 0xFF) << 8) | (static_cast<uint32_t>(n.host) & 0xFF);
}

std::vector<int> EcmpGroup(const Topology& t, int src_leaf, int dst_leaf) {
  std::vector<int> group;
  for (int s : t.SpinesOf(t.leaves[src_leaf].plane)) {
    if (t.Usable(src_leaf, s) && t.Usable(dst_leaf, s)) group.push_back(s);
  }
  return group;
}

uint16_t SteeringPort(const SwitchHash& hash, FiveTuple tuple, int index, int size) {
  if (size <= 0) return 0;
  for (uint32_t port = 49152; port <= 65535; ++port) {
    tuple.src_port = static_cast<uint16_t>(port);
    if (static_cast<int>(hash(tuple) % static_cast<uint32_t>(size)) == index) return tuple.src_port;
  }
  return 0;
}

}  // namespace bulwark::netplan
