// The node health state machine, pure: a state and an input give the next state, or the
// reason the input is refused in that state. The controller records every change as an
// event with the reason.
//
//   healthy ──verdict/suspect──▶ suspect ──self-check failed / isolate──▶ isolated
//      ▲                           │  ▲                                      │
//      └──── self-check passed ────┘  └── heartbeats resume ── lost ◀── heartbeats stop
//      ▲                                                                     │
//      └────────────────── readmit (as worker or as spare) ──────────────────┘
//
// Drained is a flag beside the health (no new work is placed on the node); role says
// whether a healthy node runs work or waits as a spare.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "controller/node.h"

namespace bulwark::controller {

enum class NodeInput {
  kSuspect,           // a verdict points at the node
  kHeartbeatLost,     // missed beats
  kHeartbeatResumed,  // a lost node's agent is back
  kSelfCheckPassed,
  kSelfCheckFailed,
  kIsolate,           // operator or verdict
  kReadmit,           // operator: back as a worker
  kReadmitAsSpare,    // operator: back as a spare
  kDrain,
  kUndrain,
};

struct NodeTransition {
  NodeState next;
  bool changed = false;
  std::string event_kind;  // "node.health", "node.drain" or "node.role"
};

// `reason` is kept on the new state when it changes. Refusals explain themselves.
Result<NodeTransition> ApplyNodeInput(const NodeState& current, NodeInput input, const std::string& reason,
                                      int64_t now_ms);

}  // namespace bulwark::controller
