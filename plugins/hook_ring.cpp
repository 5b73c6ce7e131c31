#include "plugins/hook_ring.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "common/ring_channel.h"

namespace bulwark::hook {
namespace {

ring::WriterChannel g_channel;
std::atomic<ring::RingWriter*> g_ring{nullptr};
std::once_flag g_once;

uint32_t SlotsFromEnv() {
  const char* env = std::getenv("BULWARK_RING_SLOTS");
  const unsigned long slots = env ? std::strtoul(env, nullptr, 10) : 0;
  return slots >= 64 && (slots & (slots - 1)) == 0 && slots <= (1u << 20) ? static_cast<uint32_t>(slots) : 16384;
}

// One line per node, not per rank: only the first local rank speaks (Open MPI and Slurm
// both say which one that is).
bool FirstOnNode() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v) == 0;
  }
  return true;
}

}  // namespace

ring::RingWriter* OpenProcessRing(const char* source, int world_rank) {
  std::call_once(g_once, [&] {
    std::string error;
    const std::string path = ring::AgentSocketPath();
    const ring::WriterIdentity who{source, std::getenv("BULWARK_JOB_ID"), world_rank};
    if (!ring::OpenWriterChannel(path, SlotsFromEnv(), who, &g_channel, &error)) {
      if (FirstOnNode()) {
        std::fprintf(stderr, "bulwark-%s: %s; this job runs unhooked (collectives are not recorded)\n", source,
                     error.c_str());
      }
      return;
    }
    g_ring.store(&g_channel.writer, std::memory_order_release);
  });
  return ProcessRing();
}

void SayFinished() {
  if (ProcessRing()) ring::SayFinished(g_channel);
}

void CloseProcessRing() {
  ring::RingWriter* writer = g_ring.exchange(nullptr);
  if (!writer) return;
  ring::SayFinished(g_channel);
  ::close(g_channel.socket_fd);
  ::munmap(writer->header(), ring::RingBytes(writer->header()->capacity));
  g_channel = {};
}

ring::RingWriter* ProcessRing() { return g_ring.load(std::memory_order_acquire); }

}  // namespace bulwark::hook
