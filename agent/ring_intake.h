// The agent's end of the hooks' rings: listens on the agent socket, accepts each hooked
// process's ring, drains all of them, and notices writers that are gone (their connection
// closed, or their pid no longer exists). A ring it cannot read (unknown version, garbage)
// is refused with a reason and affects nothing else.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/event_ring.h"
#include "common/ring_channel.h"
#include "common/status.h"

namespace bulwark::agent {

// Who writes a ring, as the agent knows it.
struct RingOrigin {
  uint64_t ring_id = 0;  // the agent's own number for this ring
  pid_t pid = 0;         // from the kernel
  int world_rank = -1;
  std::string source;    // "pmpi", "nccl"
  std::string job;
  int64_t anchor_realtime_ns = 0, anchor_monotonic_ns = 0;
};

class IntakeSink {
 public:
  virtual ~IntakeSink() = default;
  virtual void OnRingOpened(const RingOrigin&) {}
  virtual void OnEvents(const RingOrigin& origin, const ring::Event* events, size_t count) = 0;
  // After the last events of the ring were delivered. `why`: "finished" (the writer said so
  // before it went), "exited without finishing" (a crash, a kill) or "pid gone".
  virtual void OnRingClosed(const RingOrigin&, uint64_t /*drops*/, const std::string& /*why*/) {}
  virtual void OnRingRefused(const std::string& /*why*/) {}
};

class RingIntake {
 public:
  // Binds the socket (replacing a stale socket file; creating its folder).
  static Result<std::unique_ptr<RingIntake>> Listen(const std::string& socket_path);
  ~RingIntake();

  // Waits up to `timeout_ms` for activity, then accepts, drains and reaps once.
  void Poll(int timeout_ms, IntakeSink* sink);
  // The call each live ring's writer is inside now.
  void ForEachInFlight(const std::function<void(const RingOrigin&, const ring::InFlight&)>& fn) const;

  size_t open_rings() const { return rings_.size(); }
  const std::string& socket_path() const { return path_; }

 private:
  struct Ring {
    ring::AcceptedRing accepted;
    RingOrigin origin;
    bool finished = false;
  };
  RingIntake(std::string path, int listen_fd) : path_(std::move(path)), listen_fd_(listen_fd) {}
  void AcceptPending(IntakeSink* sink);
  void DrainAll(IntakeSink* sink);
  void Close(size_t index, IntakeSink* sink, const std::string& why);

  std::string path_;
  int listen_fd_;
  uint64_t next_ring_id_ = 1;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::vector<ring::Event> scratch_ = std::vector<ring::Event>(4096);
};

}  // namespace bulwark::agent
