// bulwark-netem: a slow or lossy link made of real packets where the kernel has no tc
// netem (this one: CONFIG_NET_SCH_NETEM unset). The agent starts it inside the node's
// network namespace for a slow-link or lossy-link injection, then points iptables at it:
//   iptables -I OUTPUT -o IF -j NFQUEUE --queue-num OUT --queue-bypass
//   iptables -I INPUT  -i IF -j NFQUEUE --queue-num IN  --queue-bypass
// Every packet of the link waits here until LinkShaper says it leaves (or is dropped).
// --queue-bypass lets packets pass untouched whenever no bulwark-netem listens, so the
// link is never left dead behind a crashed one. It prints "ready" once both queues are
// bound, releases everything it holds on SIGTERM, and ends with its parent (the agent).
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "agent/link_shaper.h"

namespace {

using bulwark::agent::LinkShape;
using bulwark::agent::LinkShaper;

volatile sig_atomic_t g_stop = 0;

int64_t NowUs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

struct Held {
  int64_t release_us;
  uint64_t order;  // arrival order: equal release times keep it
  nfq_q_handle* queue;
  uint32_t id;
  bool operator>(const Held& o) const { return release_us != o.release_us ? release_us > o.release_us : order > o.order; }
};

struct Netem {
  explicit Netem(LinkShaper s) : shaper(std::move(s)) {}
  LinkShaper shaper;
  nfq_q_handle* queues[LinkShaper::kDirections] = {nullptr, nullptr};
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held;
  uint64_t arrivals = 0, dropped = 0;
};

// A packet's length from its IPv4 header (the queue copies the first 20 bytes of each).
size_t PacketBytes(nfq_data* packet) {
  unsigned char* data = nullptr;
  const int copied = nfq_get_payload(packet, &data);
  if (copied < 4 || !data) return 1500;
  return static_cast<size_t>(data[2]) << 8 | data[3];
}

int OnPacket(nfq_q_handle* queue, nfgenmsg*, nfq_data* packet, void* arg) {
  auto* netem = static_cast<Netem*>(arg);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(packet);
  if (!header) return 0;
  const uint32_t id = ntohl(header->packet_id);
  const int direction = queue == netem->queues[0] ? 0 : 1;
  const auto release = netem->shaper.Admit(direction, NowUs(), PacketBytes(packet));
  if (!release) {
    ++netem->dropped;
    return nfq_set_verdict(queue, id, NF_DROP, 0, nullptr);
  }
  netem->held.push({*release, netem->arrivals++, queue, id});
  return 0;
}

void ReleaseDue(Netem* netem, int64_t now_us) {
  while (!netem->held.empty() && netem->held.top().release_us <= now_us) {
    const Held h = netem->held.top();
    netem->held.pop();
    nfq_set_verdict(h.queue, h.id, NF_ACCEPT, 0, nullptr);
  }
}

bool ParseNumber(const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(text, &end);
  return errno == 0 && end && *end == '\0' && end != text && *out >= 0;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "bulwark-netem: %s\n"
               "usage: bulwark-netem --queue-out N --queue-in M [--delay-ms D] [--rate-mbit R] [--loss-percent P]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double out_queue = -1, in_queue = -1, delay_ms = 0, rate = 0, loss = 0;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage((flag + " needs a value").c_str());
    double* target = flag == "--queue-out" ? &out_queue
                     : flag == "--queue-in" ? &in_queue
                     : flag == "--delay-ms" ? &delay_ms
                     : flag == "--rate-mbit" ? &rate
                     : flag == "--loss-percent" ? &loss
                                               : nullptr;
    if (!target) return Usage(("unknown flag " + flag).c_str());
    if (!ParseNumber(argv[i + 1], target)) return Usage((flag + " takes a number 0 or more, not '" + argv[i + 1] + "'").c_str());
  }
  if (out_queue < 0 || in_queue < 0 || out_queue > 65535 || in_queue > 65535 || out_queue == in_queue) {
    return Usage("--queue-out and --queue-in must be two queue numbers from 0 to 65535");
  }
  if (loss > 100) return Usage("--loss-percent is at most 100");

  LinkShape shape;
  shape.delay_us = static_cast<int64_t>(delay_ms * 1000);
  shape.rate_mbit = rate;
  shape.loss_percent = loss;
  Netem netem(LinkShaper(shape, static_cast<uint64_t>(::getpid()) * 2654435761u));

  nfq_handle* handle = nfq_open();
  if (!handle) return std::fprintf(stderr, "bulwark-netem: cannot open netfilter queues: %s\n", std::strerror(errno)), 1;
  const uint16_t numbers[] = {static_cast<uint16_t>(out_queue), static_cast<uint16_t>(in_queue)};
  for (int d = 0; d < LinkShaper::kDirections; ++d) {
    nfq_q_handle* q = nfq_create_queue(handle, numbers[d], &OnPacket, &netem);
    if (!q) {
      std::fprintf(stderr, "bulwark-netem: cannot bind queue %u (another bulwark-netem holds it?): %s\n", numbers[d], std::strerror(errno));
      return 1;
    }
    // The IPv4 header only (for the length); room for a second of a fast link's packets.
    if (nfq_set_mode(q, NFQNL_COPY_PACKET, 20) < 0 || nfq_set_queue_maxlen(q, 65536) < 0) {
      std::fprintf(stderr, "bulwark-netem: cannot configure queue %u: %s\n", numbers[d], std::strerror(errno));
      return 1;
    }
    netem.queues[d] = q;
  }
  const int fd = nfq_fd(handle);
  int big = 8 << 20, one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  ::setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));  // an overrun loses packets, not us

  struct sigaction stop {};
  stop.sa_handler = [](int) { g_stop = 1; };
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  const pid_t parent = ::getppid();
  std::printf("ready: queues %u (out) and %u (in), delay %.1f ms, rate %g Mbit/s, loss %g%%\n", numbers[0], numbers[1],
              delay_ms, rate, loss);
  std::fflush(stdout);

  std::vector<char> buffer(1 << 16);
  while (!g_stop && ::getppid() == parent) {
    const int64_t now = NowUs();
    const int64_t wait_us = netem.held.empty() ? 200000 : std::max<int64_t>(0, netem.held.top().release_us - now);
    const timespec timeout{static_cast<time_t>(wait_us / 1000000), static_cast<long>(wait_us % 1000000) * 1000};
    pollfd p{fd, POLLIN, 0};
    if (::ppoll(&p, 1, &timeout, nullptr) > 0) {
      for (;;) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n <= 0) break;
        nfq_handle_packet(handle, buffer.data(), static_cast<int>(n));
      }
    }
    ReleaseDue(&netem, NowUs());
  }
  ReleaseDue(&netem, INT64_MAX);  // what it holds goes on its way
  for (nfq_q_handle* q : netem.queues) nfq_destroy_queue(q);
  nfq_close(handle);
  std::fprintf(stderr, "bulwark-netem: stopped after %llu packets (%llu dropped)\n", static_cast<unsigned long long>(netem.arrivals + netem.dropped),
               static_cast<unsigned long long>(netem.dropped));
  return 0;
}
