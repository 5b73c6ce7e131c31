// The plugin's bookkeeping between NCCL's callbacks: one context per communicator, and a
// fixed pool of event handles per context (no allocation on NCCL's threads). A collective's
// start is recorded at enqueue; its completion when its last channel's kernel stops (NCCL's
// stopEvent on a collective only means "enqueued"). Proxy operations are recorded per peer
// and channel. Safe between the application thread and NCCL's proxy thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "common/event_ring.h"

namespace bulwark::nccl {

enum class HandleKind : uint8_t { kFree, kColl, kP2p, kKernelCh, kProxyOp, kProxyStep };

struct Context;

struct Handle {
  std::atomic<HandleKind> kind{HandleKind::kFree};
  Context* context = nullptr;
  Handle* parent = nullptr;            // for children: the collective (or proxy op) they belong to
  std::atomic<int> refs{0};            // NCCL's own reference plus one per live child
  // Collectives and point-to-point calls.
  ring::Event event{};                 // filled at start; exit stamped at completion
  uint8_t channels = 0;                // kernel channels to wait for
  std::atomic<int> kernel_stops{0};
  std::atomic<bool> completed{false};
  // Proxy operations.
  std::atomic<uint64_t> transferred{0};
};

struct Context {
  Context(uint64_t comm_id, int rank, size_t pool_size);
  uint64_t comm_id;
  int rank;
  std::atomic<uint64_t> p2p_seq{0};    // NCCL numbers collectives, not sends and receives
  std::unique_ptr<Handle[]> pool;
  size_t pool_size;
  std::atomic<size_t> cursor{0};

  // A free handle, or nullptr when all are in use (NCCL then passes NULL back; the event goes
  // unrecorded).
  Handle* Allocate(HandleKind kind, Handle* parent);
  // Whether `h` is one of this context's handles of one of `kinds` (NCCL hands back our own
  // pointers, but a foreign-process parent or a NULL must never be trusted).
  bool Owns(const void* h) const {
    const auto* p = static_cast<const Handle*>(h);
    return p >= pool.get() && p < pool.get() + pool_size;
  }
  // Drops one reference; frees the handle (and its parent's reference) at zero.
  static void Release(Handle* h);
};

}  // namespace bulwark::nccl
