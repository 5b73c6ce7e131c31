#include "plugins/nccl/nccl_events.h"

namespace bulwark::nccl {

Context::Context(uint64_t id, int r, size_t size) : comm_id(id), rank(r), pool(new Handle[size]), pool_size(size) {}

Handle* Context::Allocate(HandleKind kind, Handle* parent) {
  for (size_t tries = 0; tries < pool_size; ++tries) {
    Handle& h = pool[cursor.fetch_add(1, std::memory_order_relaxed) % pool_size];
    HandleKind expected = HandleKind::kFree;
    if (!h.kind.compare_exchange_strong(expected, kind, std::memory_order_acquire)) continue;
    h.context = this;
    h.parent = parent;
    h.refs.store(1, std::memory_order_relaxed);
    h.event = {};
    h.channels = 0;
    h.kernel_stops.store(0, std::memory_order_relaxed);
    h.completed.store(false, std::memory_order_relaxed);
    h.transferred.store(0, std::memory_order_relaxed);
    if (parent) parent->refs.fetch_add(1, std::memory_order_relaxed);
    return &h;
  }
  return nullptr;
}

void Context::Release(Handle* h) {
  while (h && h->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    Handle* parent = h->parent;
    h->kind.store(HandleKind::kFree, std::memory_order_release);
    h = parent;
  }
}

}  // namespace bulwark::nccl
