// How a leaf's ECMP picks the uplink for a packet: a hash over the five-tuple, modulo the
// number of usable next hops. RoCEv2 fixes the destination port (4791) and lets the sender
// choose the UDP source port, so the sender can steer a flow onto a chosen spine by
// choosing its source port: SteeringPort searches for one.
#pragma once

#include <cstdint>
#include <vector>

#include "netplan/topology.h"

namespace bulwark::netplan {

struct FiveTuple {
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 4791;  // RoCEv2
  uint8_t protocol = 17;                   // UDP
};

// The switch hash: CRC-32 (IEEE 802.3, reflected) over the tuple's 13 bytes in network
// order, with a per-switch seed (switches are configured with different seeds so that
// two tiers do not hash alike).
struct SwitchHash {
  uint32_t seed = 0;
  uint32_t operator()(const FiveTuple& t) const;
};

// A NIC's address in the model: 10.<plane*64 + rail>.<host / 256>.<host % 256>.
uint32_t NicAddress(const Topology& t, int nic);

// The usable spines from `src_leaf` to `dst_leaf`, in index order: the ECMP group.
std::vector<int> EcmpGroup(const Topology& t, int src_leaf, int dst_leaf);

// A source port (from 49152 up, the dynamic range) whose hash picks position `index` of a
// group of `size`; 0 when none does in the range.
uint16_t SteeringPort(const SwitchHash& hash, FiveTuple tuple, int index, int size);

}  // namespace bulwark::netplan
