#include "controller/node_health.h"

namespace bulwark::controller {
namespace {

NodeTransition Unchanged(const NodeState& s) { return {s, false, ""}; }

NodeTransition To(const NodeState& s, Health health, const std::string& reason, int64_t now_ms) {
  NodeState next = s;
  next.health = health;
  next.reason = reason;
  next.since_ms = now_ms;
  return {next, true, "node.health"};
}

}  // namespace

Result<NodeTransition> ApplyNodeInput(const NodeState& s, NodeInput input, const std::string& reason,
                                      int64_t now_ms) {
  const Health h = s.health;
  switch (input) {
    case NodeInput::kSuspect:
      return h == Health::kHealthy ? To(s, Health::kSuspect, reason, now_ms) : Unchanged(s);

    case NodeInput::kHeartbeatLost:
      // An isolated node stays isolated: fencing outranks silence.
      return (h == Health::kHealthy || h == Health::kSuspect) ? To(s, Health::kLost, reason, now_ms) : Unchanged(s);

    case NodeInput::kHeartbeatResumed:
      // Back from silence is not yet trusted: suspect until a self-check passes.
      return h == Health::kLost ? To(s, Health::kSuspect, reason, now_ms) : Unchanged(s);

    case NodeInput::kSelfCheckPassed:
      return h == Health::kSuspect ? To(s, Health::kHealthy, reason, now_ms) : Unchanged(s);

    case NodeInput::kSelfCheckFailed:
      return (h == Health::kHealthy || h == Health::kSuspect) ? To(s, Health::kIsolated, reason, now_ms)
                                                              : Unchanged(s);

    case NodeInput::kIsolate:
      return h == Health::kIsolated ? Unchanged(s) : To(s, Health::kIsolated, reason, now_ms);

    case NodeInput::kReadmit:
    case NodeInput::kReadmitAsSpare: {
      const Role role = input == NodeInput::kReadmit ? Role::kWorker : Role::kSpare;
      if (h == Health::kLost) {
        return Status::Error("node is lost (its agent sends no heartbeats); it comes back by itself when it does");
      }
      if (h == Health::kHealthy) {
        if (s.role == role) return Status::Error(std::string("node is already healthy as a ") + RoleName(role));
        NodeState next = s;
        next.role = role;
        next.reason = reason;
        next.since_ms = now_ms;
        return NodeTransition{next, true, "node.role"};
      }
      NodeTransition t = To(s, Health::kHealthy, reason, now_ms);
      t.next.role = role;
      return t;
    }

    case NodeInput::kDrain:
    case NodeInput::kUndrain: {
      const bool drained = input == NodeInput::kDrain;
      if (s.drained == drained) return Unchanged(s);
      NodeState next = s;
      next.drained = drained;
      next.reason = reason;
      next.since_ms = now_ms;
      return NodeTransition{next, true, "node.drain"};
    }
  }
  return Status::Error("unknown input");
}

}  // namespace bulwark::controller
