// The NCCL profiler plugin ABI, versions 5 and 4, as NCCL 2.28 calls it. nccl.h declares
// none of this; a plugin carries its own copy of the layout, pinned here by static_asserts
// so a wrong field order fails the build instead of corrupting a training job. Facts:
// ../shared/notes/collective-hooks.md.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace bulwark::nccl {

using Result = int;  // ncclResult_t: 0 is success
constexpr Result kSuccess = 0;
using DebugLogger = void (*)(int level, unsigned long flags, const char* file, int line, const char* fmt, ...);

// Event type bits (v5's type field is 64-bit, v4's is 8-bit).
enum EventType : uint64_t {
  kGroup = 1 << 0, kColl = 1 << 1, kP2p = 1 << 2, kProxyOp = 1 << 3, kProxyStep = 1 << 4, kProxyCtrl = 1 << 5,
  kKernelCh = 1 << 6, kNetPlugin = 1 << 7, kGroupApi = 1 << 8, kCollApi = 1 << 9, kP2pApi = 1 << 10,
  kKernelLaunch = 1 << 11,
};

// The states this plugin acts on.
enum EventState : int {
  kProxyStepSendGPUWait = 8, kProxyStepSendWait = 9, kProxyStepRecvWait = 10, kProxyStepRecvFlushWait = 11,
  kProxyStepRecvGPUWait = 12, kProxyStepSendPeerWait = 20, kKernelChStop = 22,
};

struct CollDescr {
  uint64_t seq_number;
  const char* func;
  const void* send_buff;
  void* recv_buff;
  size_t count;
  int root;
  const char* datatype;
  uint8_t n_channels;
  uint8_t n_warps;
  const char* algo;
  const char* proto;
  void* parent_group;  // v5 only
};

struct P2pDescr {
  const char* func;
  void* buff;
  const char* datatype;
  size_t count;
  int peer;
  uint8_t n_channels;
  void* parent_group;  // v5 only
};

struct ProxyOpDescr {
  pid_t pid;  // of the process that issued the operation (PXN: maybe not this one)
  uint8_t channel_id;
  int peer;
  int n_steps;
  int chunk_size;
  int is_send;
};

struct ProxyStepDescr {
  int step;
};

struct KernelChDescr {
  uint8_t channel_id;
  uint64_t p_timer;  // GPU global timer at start
};

struct EventDescrV5 {
  uint64_t type;
  void* parent_obj;  // the plugin's own handle of the parent event
  int rank;
  union {
    CollDescr coll;
    P2pDescr p2p;
    ProxyOpDescr proxy_op;
    ProxyStepDescr proxy_step;
    KernelChDescr kernel_ch;  // the API and net-plugin variants are smaller than coll
  };
};

// v4: the same variants without parent_group, behind an 8-bit type.
struct CollDescrV4 {
  uint64_t seq_number;
  const char* func;
  const void* send_buff;
  void* recv_buff;
  size_t count;
  int root;
  const char* datatype;
  uint8_t n_channels;
  uint8_t n_warps;
  const char* algo;
  const char* proto;
};

struct P2pDescrV4 {
  const char* func;
  void* buff;
  const char* datatype;
  size_t count;
  int peer;
  uint8_t n_channels;
};

struct EventDescrV4 {
  uint8_t type;
  void* parent_obj;
  int rank;
  union {
    CollDescrV4 coll;
    P2pDescrV4 p2p;
    ProxyOpDescr proxy_op;
    ProxyStepDescr proxy_step;
    KernelChDescr kernel_ch;
  };
};

union EventStateArgs {
  struct {
    size_t trans_size;
  } proxy_step;
  struct {
    int appended_proxy_ops;
  } proxy_ctrl;
  struct {
    uint64_t p_timer;
  } kernel_ch;
};

struct ProfilerV5 {
  const char* name;
  Result (*init)(void** context, uint64_t comm_id, int* activation_mask, const char* comm_name, int n_nodes,
                 int n_ranks, int rank, DebugLogger log);
  Result (*start_event)(void* context, void** handle, EventDescrV5* descr);
  Result (*stop_event)(void* handle);
  Result (*record_event_state)(void* handle, int state, EventStateArgs* args);
  Result (*finalize)(void* context);
};

struct ProfilerV4 {
  const char* name;
  Result (*init)(void** context, int* activation_mask, const char* comm_name, uint64_t comm_hash, int n_nodes,
                 int n_ranks, int rank, DebugLogger log);
  Result (*start_event)(void* context, void** handle, EventDescrV4* descr);
  Result (*stop_event)(void* handle);
  Result (*record_event_state)(void* handle, int state, EventStateArgs* args);
  Result (*finalize)(void* context);
};

// Pinned against NCCL 2.28 on x86-64 (see the notes).
static_assert(sizeof(ProfilerV5) == 48 && sizeof(ProfilerV4) == 48);
static_assert(sizeof(EventDescrV5) == 112);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, seq_number) == 24);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, func) == 32);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, count) == 56);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, datatype) == 72);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, n_channels) == 80);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, algo) == 88);
static_assert(offsetof(EventDescrV5, coll) + offsetof(CollDescr, proto) == 96);
static_assert(offsetof(EventDescrV5, proxy_op) + offsetof(ProxyOpDescr, peer) == 32);
static_assert(offsetof(EventDescrV5, kernel_ch) + offsetof(KernelChDescr, p_timer) == 32);
static_assert(offsetof(EventDescrV4, coll) + offsetof(CollDescrV4, seq_number) == 24);
static_assert(offsetof(EventDescrV4, coll) + offsetof(CollDescrV4, proto) == 96);

}  // namespace bulwark::nccl
