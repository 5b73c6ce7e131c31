#include "agent/ring_intake.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace bulwark::agent {

Result<std::unique_ptr<RingIntake>> RingIntake::Listen(const std::string& socket_path) {
  sockaddr_un addr;
  socklen_t addr_length;
  std::string error;
  if (!ring::UnixSocketAddress(socket_path, &addr, &addr_length, &error)) return Status::Error("agent " + error);
  const bool abstract = socket_path[0] == '@';
  if (!abstract) {
    std::error_code ec;
    const auto folder = std::filesystem::path(socket_path).parent_path();
    if (!folder.empty()) std::filesystem::create_directories(folder, ec);
    // A socket file nobody answers on was left by an agent that died; one that answers
    // belongs to a live agent, which must keep it.
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), addr_length) == 0;
    if (probe >= 0) close(probe);
    if (live) return Status::Error("another agent already listens on " + socket_path);
    ::unlink(socket_path.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(std::string("socket: ") + std::strerror(errno));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_length) != 0 || listen(fd, 128) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return Status::Error("cannot listen on " + socket_path + ": " + why);
  }
  return std::unique_ptr<RingIntake>(new RingIntake(socket_path, fd));
}

RingIntake::~RingIntake() {
  for (auto& r : rings_) ring::ReleaseRing(&r->accepted);
  close(listen_fd_);
  if (path_[0] != '@') ::unlink(path_.c_str());
}

void RingIntake::Poll(int timeout_ms, IntakeSink* sink) {
  std::vector<pollfd> fds;
  fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& r : rings_) fds.push_back({r->accepted.socket_fd, POLLIN, 0});
  ::poll(fds.data(), fds.size(), timeout_ms);
  if (fds[0].revents & POLLIN) AcceptPending(sink);
  DrainAll(sink);
  // A writer is gone when its connection closed (exit or kill: the kernel closes it) or,
  // should a child have inherited the socket, when its pid no longer exists. A writer that
  // finished cleanly said so first (one byte, see hook_ring.h).
  for (size_t i = rings_.size(); i-- > 0;) {
    Ring& r = *rings_[i];
    char bytes[16];
    ssize_t n;
    while ((n = recv(r.accepted.socket_fd, bytes, sizeof(bytes), MSG_DONTWAIT)) > 0) {
      if (std::memchr(bytes, ring::kFinishedByte, static_cast<size_t>(n))) r.finished = true;
    }
    const bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    const bool pid_gone = !closed && r.origin.pid > 0 && ::kill(r.origin.pid, 0) != 0 && errno == ESRCH;
    if (closed || pid_gone) {
      Close(i, sink, r.finished ? "finished" : closed ? "exited without finishing" : "pid gone");
    }
  }
}

void RingIntake::AcceptPending(IntakeSink* sink) {
  while (true) {
    const int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    auto r = std::make_unique<Ring>();
    std::string error;
    if (!ring::AcceptRing(conn, &r->accepted, &error)) {  // it closed the connection
      sink->OnRingRefused(error);
      continue;
    }
    const ring::RingHeader& h = r->accepted.reader.header();
    r->origin.ring_id = next_ring_id_++;
    r->origin.pid = r->accepted.pid;
    r->origin.world_rank = h.world_rank;
    r->origin.source.assign(h.source, strnlen(h.source, sizeof(h.source)));
    r->origin.job.assign(h.job, strnlen(h.job, sizeof(h.job)));
    r->origin.anchor_realtime_ns = h.anchor_realtime_ns;
    r->origin.anchor_monotonic_ns = h.anchor_monotonic_ns;
    sink->OnRingOpened(r->origin);
    rings_.push_back(std::move(r));
  }
}

void RingIntake::DrainAll(IntakeSink* sink) {
  for (auto& r : rings_) {
    size_t n;
    while ((n = r->accepted.reader.Drain(scratch_.data(), scratch_.size())) > 0) {
      sink->OnEvents(r->origin, scratch_.data(), n);
    }
  }
}

void RingIntake::Close(size_t index, IntakeSink* sink, const std::string& why) {
  Ring& r = *rings_[index];
  size_t n;
  while ((n = r.accepted.reader.Drain(scratch_.data(), scratch_.size())) > 0) sink->OnEvents(r.origin, scratch_.data(), n);
  sink->OnRingClosed(r.origin, r.accepted.reader.drops(), why);
  ring::ReleaseRing(&r.accepted);
  rings_.erase(rings_.begin() + static_cast<std::ptrdiff_t>(index));
}

void RingIntake::ForEachInFlight(const std::function<void(const RingOrigin&, const ring::InFlight&)>& fn) const {
  for (const auto& r : rings_) {
    ring::InFlight f;
    if (r->accepted.reader.ReadInFlight(&f)) fn(r->origin, f);
  }
}

}  // namespace bulwark::agent
