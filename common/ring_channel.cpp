#include "common/ring_channel.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace bulwark::ring {
namespace {

constexpr char kAccepted = 'A';
constexpr char kRefused = 'R';

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A registration on the wire: one byte of payload with room for one descriptor.
struct FdMessage {
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  char payload = 'R';
  iovec iov{&payload, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};

}  // namespace

bool UnixSocketAddress(const std::string& path, sockaddr_un* addr, socklen_t* length, std::string* error) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    *error = path.empty() ? std::string("socket path is empty")
                          : "socket path '" + path + "' is longer than " + std::to_string(sizeof(addr->sun_path) - 1) +
                                " bytes";
    return false;
  }
  std::memcpy(addr->sun_path, path.data(), path.size());
  if (path[0] == '@') {  // abstract: a leading NUL, and the length says where the name ends
    addr->sun_path[0] = '\0';
    *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  } else {
    *length = static_cast<socklen_t>(sizeof(sockaddr_un));
  }
  return true;
}

std::string AgentSocketPath() {
  const char* env = std::getenv("BULWARK_AGENT_SOCKET");
  return env && *env ? env : kDefaultAgentSocket;
}

bool OpenWriterChannel(const std::string& socket_path, uint32_t capacity, const WriterIdentity& who,
                       WriterChannel* out, std::string* error) {
  sockaddr_un addr;
  socklen_t addr_length;
  if (!UnixSocketAddress(socket_path, &addr, &addr_length, error)) return false;
  const int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return (*error = Errno("socket"), false);
  if (connect(sock, reinterpret_cast<sockaddr*>(&addr), addr_length) != 0) {
    *error = "no agent at " + socket_path + " (" + std::strerror(errno) + ")";
    close(sock);
    return false;
  }
  const size_t bytes = RingBytes(capacity);
  const int fd = memfd_create("bulwark-ring", MFD_CLOEXEC);
  void* memory = MAP_FAILED;
  if (fd < 0) {
    *error = Errno("memfd_create");
  } else if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    *error = Errno("ftruncate");
  } else {
    memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) *error = Errno("mmap");
  }
  RingWriter writer;
  if (memory != MAP_FAILED) {
    writer = RingWriter::Create(memory, capacity, static_cast<int32_t>(getpid()), who.source);
    if (writer.valid()) {
      if (who.job) std::strncpy(writer.header()->job, who.job, sizeof(writer.header()->job) - 1);
      writer.header()->world_rank = who.world_rank;
    }
  }
  bool ok = writer.valid();
  if (ok) {
    // The message carries the fd; the agent answers with one byte.
    FdMessage m;
    cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    timeval timeout{5, 0};  // an agent that accepts but never answers must not hold MPI_Init forever
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char answer = 0;
    if (sendmsg(sock, &m.msg, MSG_NOSIGNAL) != 1) {
      *error = Errno("sending the ring to the agent");
      ok = false;
    } else if (recv(sock, &answer, 1, 0) != 1) {
      *error = "agent at " + socket_path + " did not answer";
      ok = false;
    } else if (answer != kAccepted) {
      *error = "agent at " + socket_path + " refused the ring (see the agent's log)";
      ok = false;
    }
  } else if (memory != MAP_FAILED && error->empty()) {
    *error = "ring capacity " + std::to_string(capacity) + " is not a power of two";
  }
  if (fd >= 0) close(fd);  // the mapping keeps the memory; the agent holds its own fd
  if (!ok) {
    if (memory != MAP_FAILED) munmap(memory, bytes);
    close(sock);
    return false;
  }
  out->writer = writer;
  out->socket_fd = sock;
  return true;
}

void SayFinished(const WriterChannel& channel) {
  if (channel.socket_fd >= 0) (void)!send(channel.socket_fd, &kFinishedByte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool AcceptRing(int connection_fd, AcceptedRing* out, std::string* error) {
  *out = {};
  out->socket_fd = connection_fd;
  ucred cred{};
  socklen_t cred_len = sizeof(cred);
  if (getsockopt(connection_fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) out->pid = cred.pid;

  FdMessage m;
  const ssize_t got = recvmsg(connection_fd, &m.msg, MSG_CMSG_CLOEXEC);
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg); got > 0 && c; c = CMSG_NXTHDR(&m.msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
  }
  const auto refuse = [&](const std::string& why) {
    *error = "ring from pid " + std::to_string(out->pid) + " refused: " + why;
    const char answer = kRefused;
    (void)!send(connection_fd, &answer, 1, MSG_NOSIGNAL);
    if (fd >= 0) close(fd);
    ReleaseRing(out);
    return false;
  };
  if (got != 1 || fd < 0) return refuse("no ring descriptor in the registration");
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) return refuse("cannot size the ring");
  out->mapping_bytes = static_cast<size_t>(st.st_size);
  out->mapping = mmap(nullptr, out->mapping_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  fd = -1;
  if (out->mapping == MAP_FAILED) {
    out->mapping = nullptr;
    return refuse(Errno("mmap"));
  }
  std::string why;
  out->reader = RingReader::Attach(out->mapping, out->mapping_bytes, &why);
  if (!out->reader.valid()) return refuse(why);
  const char answer = kAccepted;
  if (send(connection_fd, &answer, 1, MSG_NOSIGNAL) != 1) return refuse(Errno("answering"));
  return true;
}

void ReleaseRing(AcceptedRing* ring) {
  if (ring->mapping) munmap(ring->mapping, ring->mapping_bytes);
  if (ring->socket_fd >= 0) close(ring->socket_fd);
  *ring = {};
}

}  // namespace bulwark::ring
