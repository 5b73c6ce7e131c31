// The shared-memory channel from the collective hooks to the local agent: one ring per
// hooked process, in a memfd that the process hands to the agent over a Unix socket.
//
// Writers (the hooked process's threads: the application thread, NCCL's proxy thread) append
// fixed 64-byte slots: no lock, no allocation, no system call. When the ring is full the
// record is dropped and counted; a writer never waits for the agent. The one reader (the
// agent) drains records in order. The header is versioned: a reader refuses a ring whose
// magic, version, record size or capacity it does not understand, with a message saying
// which, and nothing else is affected.
//
// Depends on libc only: it is linked into the hook libraries, which live inside other
// people's programs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bulwark::ring {

constexpr uint64_t kMagic = 0x31474e4952574c42ull;  // "BLWRING1" little-endian
constexpr uint32_t kVersion = 1;

// What a record describes. Values are part of the ring ABI: append, never renumber.
enum class Op : uint8_t {
  kUnknown = 0,
  kAllreduce, kReduce, kBcast, kAllgather, kAllgatherv, kGather, kGatherv, kScatter, kScatterv,
  kReduceScatter, kReduceScatterBlock, kAlltoall, kAlltoallv, kAlltoallw, kBarrier, kScan, kExscan,
  kSend, kRecv,                // NCCL point-to-point
  kProxySend, kProxyRecv,      // NCCL network progress to one peer (see kProxy)
  kCount
};
const char* OpName(Op op);

// Element types, as far as the hooks can name them; derived types are kOther.
enum class DataType : uint16_t {
  kNone = 0, kInt8, kUint8, kInt32, kUint32, kInt64, kUint64, kFloat16, kBfloat16, kFloat32, kFloat64,
  kOther, kCount
};
const char* DataTypeName(DataType t);

enum RecordFlags : uint8_t {
  kEntered = 1 << 0,      // the call began; exit_ns is 0 until a completion record follows
  kNonBlocking = 1 << 1,  // MPI_I*: enter is the initiation, exit the completion seen in Wait/Test
  kFortran = 1 << 2,      // called through the Fortran bindings
  kProxy = 1 << 3,        // NCCL proxy progress: comm_rank is the peer, datatype the channel, seq the step
};

// One collective event as the hooks see it.
struct Event {
  uint64_t comm_id;    // agreed by every member of the communicator
  uint64_t seq;        // per communicator, counted the same way on every member
  uint64_t bytes;      // this rank's payload
  int64_t enter_ns;    // CLOCK_MONOTONIC
  int64_t exit_ns;     // CLOCK_MONOTONIC; 0 when only entered
  int32_t comm_rank;
  int32_t world_rank;
  Op op;
  uint8_t flags;       // RecordFlags
  uint16_t datatype;   // a DataType
  int32_t pid;
};
static_assert(sizeof(Event) == 56);

// A slot of the ring: one cache line.
struct RingSlot {
  std::atomic<uint64_t> stamp;  // index + 1 once the event is complete (written last)
  Event event;
};
static_assert(sizeof(RingSlot) == 64, "a slot is one cache line");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "atomics in shared memory must be lock-free");

struct alignas(64) RingHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t record_size;          // sizeof(RingSlot)
  uint32_t capacity;             // records; a power of two
  int32_t pid;                   // the writer
  int32_t world_rank;            // -1 until known
  uint32_t reserved0;
  // The same instant on both clocks, so the reader can turn record times into wall time.
  int64_t anchor_realtime_ns;
  int64_t anchor_monotonic_ns;
  char source[16];               // "pmpi", "nccl", ...
  char job[32];                  // BULWARK_JOB_ID of the writer, if any
  // The blocking call the writer's main thread is inside now, so the agent can see a hang
  // without a record per entry. A seqlock: odd version while being written.
  std::atomic<uint32_t> inflight_version;
  uint8_t inflight_op;           // an Op; kUnknown when not inside a call
  uint8_t reserved1[3];
  uint64_t inflight_comm_id;
  uint64_t inflight_seq;
  int64_t inflight_enter_ns;
  alignas(64) std::atomic<uint64_t> head;   // next index to reserve (writers)
  alignas(64) std::atomic<uint64_t> tail;   // next index to read (reader)
  alignas(64) std::atomic<uint64_t> drops;  // records lost because the ring was full
};
// The layout is part of the ring ABI: a change means a new kVersion.
static_assert(sizeof(RingHeader) == 320 && offsetof(RingHeader, anchor_realtime_ns) == 32 &&
              offsetof(RingHeader, job) == 64 && offsetof(RingHeader, inflight_version) == 96 &&
              offsetof(RingHeader, inflight_enter_ns) == 120 && offsetof(RingHeader, head) == 128 &&
              offsetof(RingHeader, tail) == 192 && offsetof(RingHeader, drops) == 256);

// Bytes a ring of `capacity` records takes.
size_t RingBytes(uint32_t capacity);

// The writer's side: a ring in memory this process created.
class RingWriter {
 public:
  // Lays out a fresh ring in `memory` (RingBytes(capacity) bytes, zeroed).
  static RingWriter Create(void* memory, uint32_t capacity, int32_t pid, const char* source);
  RingWriter() = default;

  bool valid() const { return header_ != nullptr; }
  // Appends a copy of `e`; false when the ring was full (counted in the header's drops).
  bool Append(const Event& e) {
    RingHeader& h = *header_;
    uint64_t index = h.head.load(std::memory_order_relaxed);
    do {
      if (index - h.tail.load(std::memory_order_acquire) >= h.capacity) {
        h.drops.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!h.head.compare_exchange_weak(index, index + 1, std::memory_order_relaxed));
    RingSlot& slot = slots_[index & mask_];
    slot.event = e;
    slot.stamp.store(index + 1, std::memory_order_release);
    return true;
  }
  RingHeader* header() const { return header_; }

  // Marks the main thread as inside a blocking call (enter) or out of it (Leave).
  void Enter(Op op, uint64_t comm_id, uint64_t seq, int64_t enter_ns) {
    RingHeader& h = *header_;
    const uint32_t v = h.inflight_version.load(std::memory_order_relaxed);
    h.inflight_version.store(v + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    h.inflight_op = static_cast<uint8_t>(op);
    h.inflight_comm_id = comm_id;
    h.inflight_seq = seq;
    h.inflight_enter_ns = enter_ns;
    h.inflight_version.store(v + 2, std::memory_order_release);
  }
  void Leave() { Enter(Op::kUnknown, 0, 0, 0); }

 private:
  RingHeader* header_ = nullptr;
  RingSlot* slots_ = nullptr;
  uint64_t mask_ = 0;
};

// The call a writer is inside, as the reader last saw it consistently.
struct InFlight {
  Op op = Op::kUnknown;  // kUnknown: not inside a call
  uint64_t comm_id = 0;
  uint64_t seq = 0;
  int64_t enter_ns = 0;
};

// The reader's side: a ring someone else wrote, mapped here. Trusts nothing in it.
class RingReader {
 public:
  // Checks the header against `size` bytes of mapping; on refusal returns an invalid reader
  // and sets *error to what was wrong ("ring version 7, this agent reads version 1").
  static RingReader Attach(void* memory, size_t size, std::string* error);
  RingReader() = default;

  bool valid() const { return header_ != nullptr; }
  // Copies up to `max` complete events into `out`, in order; returns how many.
  size_t Drain(Event* out, size_t max);
  uint64_t drops() const { return header_->drops.load(std::memory_order_relaxed); }
  // False when the writer was mid-update on every try (read again later).
  bool ReadInFlight(InFlight* out) const;
  const RingHeader& header() const { return *header_; }

 private:
  RingHeader* header_ = nullptr;
  RingSlot* slots_ = nullptr;
  uint64_t capacity_ = 0;  // validated copies: the writer could scribble over the header
  uint64_t mask_ = 0;
  uint64_t tail_ = 0;
};

// CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds.
int64_t MonotonicNs();
int64_t RealtimeNs();

}  // namespace bulwark::ring
