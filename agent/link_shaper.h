// What a slow or lossy link does to each packet, decided in userspace: this kernel has no
// tc netem, so bulwark-netem holds a link's packets in NFQUEUE and releases each when this
// says (controller/injection.h: slow-link, lossy-link). Pure: a packet's size and arrival
// in, its fate out.
//
// The model is a wire: a packet waits for the one before it to finish sending (rate),
// takes its own bytes' time to send, then travels (delay). A packet that would wait more
// than max_queue_us behind the others is dropped, as a router's full queue drops it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>

namespace bulwark::agent {

struct LinkShape {
  int64_t delay_us = 0;      // added to every packet, each way
  double rate_mbit = 0;      // each way; 0: no limit
  double loss_percent = 0;   // of packets dropped at random, each way
  int64_t max_queue_us = 500000;
};

class LinkShaper {
 public:
  static constexpr int kDirections = 2;  // out of the node, into it

  LinkShaper(LinkShape shape, uint64_t seed) : shape_(shape), random_(seed) {}

  // When a packet of `bytes` that arrives at now_us going `direction` leaves the link, or
  // nullopt when it is lost.
  std::optional<int64_t> Admit(int direction, int64_t now_us, size_t bytes);

  const LinkShape& shape() const { return shape_; }

 private:
  LinkShape shape_;
  std::mt19937_64 random_;
  int64_t sent_until_us_[kDirections] = {0, 0};  // when the wire is free again
};

}  // namespace bulwark::agent
