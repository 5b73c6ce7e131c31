#include "common/event_ring.h"

#include <time.h>

#include <cstring>

namespace bulwark::ring {
namespace {

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Beyond this a ring is more likely garbage than a deliberate choice (64 MiB of slots).
constexpr uint64_t kMaxCapacity = 1u << 20;

}  // namespace

const char* OpName(Op op) {
  static const char* const kNames[] = {
      "unknown",       "allreduce", "reduce",  "bcast",     "allgather", "allgatherv", "gather",
      "gatherv",       "scatter",   "scatterv", "reduce_scatter", "reduce_scatter_block", "alltoall",
      "alltoallv",     "alltoallw", "barrier", "scan",      "exscan",    "send",       "recv",
      "proxy_send",    "proxy_recv"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(Op::kCount));
  const auto i = static_cast<size_t>(op);
  return i < static_cast<size_t>(Op::kCount) ? kNames[i] : "unknown";
}

const char* DataTypeName(DataType t) {
  static const char* const kNames[] = {"none",    "int8",     "uint8",    "int32",   "uint32", "int64",
                                       "uint64",  "float16",  "bfloat16", "float32", "float64", "other"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(DataType::kCount));
  const auto i = static_cast<size_t>(t);
  return i < static_cast<size_t>(DataType::kCount) ? kNames[i] : "other";
}

size_t RingBytes(uint32_t capacity) { return sizeof(RingHeader) + static_cast<size_t>(capacity) * sizeof(RingSlot); }

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

RingWriter RingWriter::Create(void* memory, uint32_t capacity, int32_t pid, const char* source) {
  RingWriter w;
  if (!IsPowerOfTwo(capacity) || capacity > kMaxCapacity) return w;
  auto* h = new (memory) RingHeader{};
  h->magic = kMagic;
  h->version = kVersion;
  h->record_size = sizeof(RingSlot);
  h->capacity = capacity;
  h->pid = pid;
  h->world_rank = -1;
  h->anchor_monotonic_ns = MonotonicNs();
  h->anchor_realtime_ns = RealtimeNs();
  std::strncpy(h->source, source, sizeof(h->source) - 1);
  auto* slots = reinterpret_cast<RingSlot*>(static_cast<char*>(memory) + sizeof(RingHeader));
  for (uint32_t i = 0; i < capacity; ++i) new (&slots[i]) RingSlot{};
  w.header_ = h;
  w.slots_ = slots;
  w.mask_ = capacity - 1;
  return w;
}

RingReader RingReader::Attach(void* memory, size_t size, std::string* error) {
  RingReader r;
  if (size < sizeof(RingHeader)) {
    *error = "ring of " + std::to_string(size) + " bytes is smaller than its header";
    return r;
  }
  auto* h = static_cast<RingHeader*>(memory);
  if (h->magic != kMagic) {
    *error = "not a Bulwark event ring (bad magic)";
  } else if (h->version != kVersion) {
    *error = "ring version " + std::to_string(h->version) + ", this agent reads version " + std::to_string(kVersion);
  } else if (h->record_size != sizeof(RingSlot)) {
    *error = "ring record size " + std::to_string(h->record_size) + ", expected " + std::to_string(sizeof(RingSlot));
  } else if (!IsPowerOfTwo(h->capacity) || h->capacity > kMaxCapacity) {
    *error = "ring capacity " + std::to_string(h->capacity) + " is not a power of two up to " +
             std::to_string(kMaxCapacity);
  } else if (RingBytes(h->capacity) > size) {
    *error = "ring of capacity " + std::to_string(h->capacity) + " needs " + std::to_string(RingBytes(h->capacity)) +
             " bytes, the mapping has " + std::to_string(size);
  } else {
    r.header_ = h;
    r.slots_ = reinterpret_cast<RingSlot*>(static_cast<char*>(memory) + sizeof(RingHeader));
    r.capacity_ = h->capacity;
    r.mask_ = r.capacity_ - 1;
    r.tail_ = h->tail.load(std::memory_order_acquire);
  }
  return r;
}

size_t RingReader::Drain(Event* out, size_t max) {
  size_t n = 0;
  while (n < max) {
    RingSlot& slot = slots_[tail_ & mask_];
    if (slot.stamp.load(std::memory_order_acquire) != tail_ + 1) break;  // not written yet
    out[n++] = slot.event;
    ++tail_;
  }
  if (n > 0) header_->tail.store(tail_, std::memory_order_release);
  return n;
}

bool RingReader::ReadInFlight(InFlight* out) const {
  const RingHeader& h = *header_;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint32_t before = h.inflight_version.load(std::memory_order_acquire);
    if (before & 1) continue;
    InFlight seen;
    seen.op = h.inflight_op < static_cast<uint8_t>(Op::kCount) ? static_cast<Op>(h.inflight_op) : Op::kUnknown;
    seen.comm_id = h.inflight_comm_id;
    seen.seq = h.inflight_seq;
    seen.enter_ns = h.inflight_enter_ns;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h.inflight_version.load(std::memory_order_relaxed) == before) {
      *out = seen;
      return true;
    }
  }
  return false;
}

}  // namespace bulwark::ring
