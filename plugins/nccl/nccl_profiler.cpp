// libnccl-profiler-bulwark.so: NCCL's profiler plugin interface (v5 and v4), feeding the same
// event ring as the MPI hook. Load it with NCCL_PROFILER_PLUGIN=bulwark (NCCL then opens
// libnccl-profiler-bulwark.so) or a full path. Needs no CUDA: it only sees NCCL's callbacks.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "plugins/hook_ring.h"
#include "plugins/nccl/nccl_events.h"
#include "plugins/nccl/nccl_profiler_abi.h"

namespace bulwark::nccl {
namespace {

using ring::DataType;
using ring::Op;

constexpr size_t kHandlesPerComm = 4096;
constexpr int kActivationMask = kColl | kP2p | kProxyOp | kProxyStep | kKernelCh;

int g_pid = 0;
int g_world_rank = -1;

int WorldRankFromEnv() {
  for (const char* var : {"BULWARK_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v);
  }
  return -1;
}

bool Is(const char* s, const char* what) { return s && std::strcmp(s, what) == 0; }

Op OpOf(const char* func) {
  if (Is(func, "AllReduce")) return Op::kAllreduce;
  if (Is(func, "AllGather")) return Op::kAllgather;
  if (Is(func, "ReduceScatter")) return Op::kReduceScatter;
  if (Is(func, "Broadcast")) return Op::kBcast;
  if (Is(func, "Reduce")) return Op::kReduce;
  if (Is(func, "AllToAll") || Is(func, "AlltoAll")) return Op::kAlltoall;
  if (Is(func, "Gather")) return Op::kGather;
  if (Is(func, "Scatter")) return Op::kScatter;
  if (Is(func, "Send")) return Op::kSend;
  if (Is(func, "Recv")) return Op::kRecv;
  return Op::kUnknown;
}

// NCCL names its types "ncclFloat32" and so on; returns the ring's code and the element size.
DataType TypeOf(const char* name, size_t* size) {
  struct Entry {
    const char* name;
    DataType type;
    size_t size;
  };
  static const Entry kTypes[] = {
      {"ncclInt8", DataType::kInt8, 1},         {"ncclUint8", DataType::kUint8, 1},
      {"ncclInt32", DataType::kInt32, 4},       {"ncclUint32", DataType::kUint32, 4},
      {"ncclInt64", DataType::kInt64, 8},       {"ncclUint64", DataType::kUint64, 8},
      {"ncclFloat16", DataType::kFloat16, 2},   {"ncclBfloat16", DataType::kBfloat16, 2},
      {"ncclFloat32", DataType::kFloat32, 4},   {"ncclFloat64", DataType::kFloat64, 8},
      {"ncclFloat8e4m3", DataType::kOther, 1},  {"ncclFloat8e5m2", DataType::kOther, 1},
  };
  for (const auto& t : kTypes) {
    if (Is(name, t.name)) {
      *size = t.size;
      return t.type;
    }
  }
  *size = 0;
  return DataType::kOther;
}

// What v4 and v5 descriptors say, in one shape.
struct Descr {
  uint64_t type;
  void* parent;
  // collective / point-to-point
  uint64_t seq = 0;
  const char* func = nullptr;
  const char* datatype = nullptr;
  size_t count = 0;
  uint8_t channels = 0;
  bool has_seq = false;
  // proxy op
  const ProxyOpDescr* proxy = nullptr;
};

Result Init(void** context, uint64_t comm_id, int* mask, int rank) {
  *context = nullptr;
  if (g_pid == 0) {
    g_pid = static_cast<int>(getpid());
    g_world_rank = WorldRankFromEnv();
  }
  if (!hook::OpenProcessRing("nccl", g_world_rank)) {
    *mask = 0;  // no agent: ask NCCL for no events at all, so the job pays nothing
    return kSuccess;
  }
  *context = new Context(comm_id, rank, kHandlesPerComm);
  *mask = kActivationMask;
  return kSuccess;
}

void StartCall(Context* ctx, Handle* h, const Descr& d, Op op) {
  size_t element = 0;
  h->event.datatype = static_cast<uint16_t>(TypeOf(d.datatype, &element));
  h->event.comm_id = ctx->comm_id;
  h->event.seq = d.has_seq ? d.seq : ctx->p2p_seq.fetch_add(1, std::memory_order_relaxed);
  h->event.bytes = d.count * element;
  h->event.comm_rank = ctx->rank;
  h->event.world_rank = g_world_rank;
  h->event.op = op;
  h->event.pid = g_pid;
  h->event.flags = ring::kNonBlocking;  // NCCL calls are asynchronous: enqueue, then completion
  h->event.enter_ns = ring::MonotonicNs();
  h->channels = d.channels;
  // NCCL stops a collective when it is enqueued, before its kernels run: the handle must
  // outlive that stop until completion, which holds a reference of its own.
  h->refs.fetch_add(1, std::memory_order_relaxed);
  ring::Event entered = h->event;
  entered.flags |= ring::kEntered;
  if (auto* r = hook::ProcessRing()) r->Append(entered);
}

void Complete(Handle* call) {
  if (call->completed.exchange(true, std::memory_order_acq_rel)) return;
  ring::Event done = call->event;
  done.exit_ns = ring::MonotonicNs();
  if (auto* r = hook::ProcessRing()) r->Append(done);
  Context::Release(call);  // the completion's reference (see StartCall)
}

void KernelStopped(Handle* kernel) {
  if (kernel->completed.exchange(true, std::memory_order_acq_rel)) return;  // counted once per channel
  Handle* call = kernel->parent;
  if (!call) return;
  const int stops = call->kernel_stops.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (stops >= (call->channels > 0 ? call->channels : 1)) Complete(call);
}

bool IsCall(const Context* ctx, void* p) {
  if (!p || !ctx->Owns(p)) return false;
  const HandleKind k = static_cast<Handle*>(p)->kind.load(std::memory_order_acquire);
  return k == HandleKind::kColl || k == HandleKind::kP2p;
}

Result Start(void* context, void** handle, const Descr& d) {
  *handle = nullptr;
  auto* ctx = static_cast<Context*>(context);
  if (!ctx) return kSuccess;
  if (d.type & kColl) {
    Handle* h = ctx->Allocate(HandleKind::kColl, nullptr);
    if (h) StartCall(ctx, h, d, OpOf(d.func));
    *handle = h;
  } else if (d.type & kP2p) {
    Handle* h = ctx->Allocate(HandleKind::kP2p, nullptr);
    if (h) StartCall(ctx, h, d, OpOf(d.func));
    *handle = h;
  } else if (d.type & kKernelCh) {
    *handle = ctx->Allocate(HandleKind::kKernelCh, IsCall(ctx, d.parent) ? static_cast<Handle*>(d.parent) : nullptr);
  } else if ((d.type & kProxyOp) && d.proxy) {
    // With PXN the operation may come from another process, whose parent pointer means
    // nothing here: only a parent of this process is followed.
    const bool ours = d.proxy->pid == g_pid && IsCall(ctx, d.parent);
    Handle* parent = ours ? static_cast<Handle*>(d.parent) : nullptr;
    Handle* h = ctx->Allocate(HandleKind::kProxyOp, parent);
    if (h) {
      h->event.comm_id = ctx->comm_id;
      h->event.seq = parent ? parent->event.seq : 0;
      h->event.bytes = static_cast<uint64_t>(d.proxy->n_steps) * static_cast<uint64_t>(d.proxy->chunk_size);
      h->event.comm_rank = d.proxy->peer;  // kProxy: the peer
      h->event.world_rank = g_world_rank;
      h->event.op = d.proxy->is_send ? Op::kProxySend : Op::kProxyRecv;
      h->event.flags = ring::kProxy;
      h->event.datatype = d.proxy->channel_id;  // kProxy: the channel
      h->event.pid = g_pid;
      h->event.enter_ns = ring::MonotonicNs();
    }
    *handle = h;
  } else if (d.type & kProxyStep) {
    const bool parent_ok = d.parent && ctx->Owns(d.parent) &&
                           static_cast<Handle*>(d.parent)->kind.load(std::memory_order_acquire) == HandleKind::kProxyOp;
    *handle = ctx->Allocate(HandleKind::kProxyStep, parent_ok ? static_cast<Handle*>(d.parent) : nullptr);
  }
  return kSuccess;
}

Result Stop(void* handle) {
  auto* h = static_cast<Handle*>(handle);
  if (!h) return kSuccess;
  switch (h->kind.load(std::memory_order_acquire)) {
    case HandleKind::kKernelCh:
      KernelStopped(h);
      break;
    case HandleKind::kProxyOp: {
      ring::Event done = h->event;
      done.exit_ns = ring::MonotonicNs();
      if (const uint64_t moved = h->transferred.load(std::memory_order_relaxed)) done.bytes = moved;
      if (auto* r = hook::ProcessRing()) r->Append(done);
      break;
    }
    case HandleKind::kProxyStep:
      if (h->parent) h->parent->transferred.fetch_add(h->transferred.load(std::memory_order_relaxed));
      break;
    case HandleKind::kFree:
      return kSuccess;  // not ours, or stopped twice: ignore
    default:
      break;  // a collective's stop means "enqueued": completion comes from its kernels
  }
  Context::Release(h);
  return kSuccess;
}

Result RecordState(void* handle, int state, EventStateArgs* args) {
  auto* h = static_cast<Handle*>(handle);
  if (!h) return kSuccess;
  const HandleKind kind = h->kind.load(std::memory_order_acquire);
  if (kind == HandleKind::kKernelCh && state == kKernelChStop) {
    KernelStopped(h);
  } else if (kind == HandleKind::kProxyStep && args &&
             (state == kProxyStepSendWait || state == kProxyStepRecvFlushWait || state == kProxyStepRecvGPUWait)) {
    // The step's size, as its network states report it (kept, not summed: a step passes
    // several of these states); added to its operation when the step stops.
    h->transferred.store(args->proxy_step.trans_size, std::memory_order_relaxed);
  }
  return kSuccess;
}

Result Finalize(void* context) {
  delete static_cast<Context*>(context);
  return kSuccess;
}

// --- the two ABI versions ---------------------------------------------------------------

// v4 and v5 descriptors name their fields alike; only the type's width and v5's extra
// parent_group differ.
template <typename Descriptor>
Result StartAny(void* context, void** handle, Descriptor* e) {
  if (!handle) return kSuccess;
  if (!e) return (*handle = nullptr, kSuccess);
  Descr d{e->type, e->parent_obj};
  if (e->type & kColl) {
    d.seq = e->coll.seq_number;
    d.has_seq = true;
    d.func = e->coll.func;
    d.datatype = e->coll.datatype;
    d.count = e->coll.count;
    d.channels = e->coll.n_channels;
  } else if (e->type & kP2p) {
    d.func = e->p2p.func;
    d.datatype = e->p2p.datatype;
    d.count = e->p2p.count;
    d.channels = e->p2p.n_channels;
  } else if (e->type & kProxyOp) {
    d.proxy = &e->proxy_op;
  }
  return Start(context, handle, d);
}

Result InitV5(void** context, uint64_t comm_id, int* mask, const char*, int, int, int rank, DebugLogger) {
  return Init(context, comm_id, mask, rank);
}
Result StartV5(void* context, void** handle, EventDescrV5* e) { return StartAny(context, handle, e); }

Result InitV4(void** context, int* mask, const char*, uint64_t comm_hash, int, int, int rank, DebugLogger) {
  return Init(context, comm_hash, mask, rank);
}
Result StartV4(void* context, void** handle, EventDescrV4* e) { return StartAny(context, handle, e); }

// When the library is unloaded (dlclose) its ring goes with it, cleanly.
__attribute__((destructor)) void Unload() { hook::CloseProcessRing(); }

}  // namespace
}  // namespace bulwark::nccl

extern "C" {
__attribute__((visibility("default"))) bulwark::nccl::ProfilerV5 ncclProfiler_v5 = {
    "Bulwark", bulwark::nccl::InitV5, bulwark::nccl::StartV5, bulwark::nccl::Stop, bulwark::nccl::RecordState,
    bulwark::nccl::Finalize};
__attribute__((visibility("default"))) bulwark::nccl::ProfilerV4 ncclProfiler_v4 = {
    "Bulwark", bulwark::nccl::InitV4, bulwark::nccl::StartV4, bulwark::nccl::Stop, bulwark::nccl::RecordState,
    bulwark::nccl::Finalize};
}
