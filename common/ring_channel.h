// How a hooked process hands its event ring to the local agent: the ring lives in a memfd,
// and the fd itself travels over the agent's Unix socket (SCM_RIGHTS). Nothing is left in
// /dev/shm when either side dies, the agent learns the writer's pid from the kernel
// (SO_PEERCRED), and the connection staying open tells the agent the writer is alive.
//
// Libc only, like event_ring.h: the writer half runs inside other people's programs.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstddef>
#include <string>

#include "common/event_ring.h"

namespace bulwark::ring {

// $BULWARK_AGENT_SOCKET, else this. A path starting with '@' names a socket in the abstract
// namespace (no file, no length trouble from deep folders; scoped to the network namespace),
// which is what a local cluster of logical nodes uses.
constexpr const char* kDefaultAgentSocket = "/run/bulwark/agent.sock";
std::string AgentSocketPath();

// Fills a Unix socket address for `path` (see above); false with *error when it is too long.
bool UnixSocketAddress(const std::string& path, sockaddr_un* addr, socklen_t* length, std::string* error);

// A ring this process created and the agent accepted.
struct WriterChannel {
  RingWriter writer;
  int socket_fd = -1;  // kept open for the life of the process: its closing means "writer gone"
};

// Who is writing: goes into the ring header before the agent first reads it.
struct WriterIdentity {
  const char* source = "";   // "pmpi", "nccl"
  const char* job = nullptr;  // BULWARK_JOB_ID, if any
  int world_rank = -1;
};

// Written by a writer on its connection when it finishes cleanly (MPI_Finalize, NCCL
// finalize): a connection that closes without it means the writer died.
constexpr char kFinishedByte = 'F';
void SayFinished(const WriterChannel& channel);

// Creates a ring of `capacity` slots and registers it with the agent at `socket_path`.
// On failure returns false and says why in *error (no agent listening, agent refused).
bool OpenWriterChannel(const std::string& socket_path, uint32_t capacity, const WriterIdentity& who,
                       WriterChannel* out, std::string* error);

// The agent's side of one registration.
struct AcceptedRing {
  RingReader reader;
  void* mapping = nullptr;
  size_t mapping_bytes = 0;
  pid_t pid = 0;       // from the kernel, not from the ring
  int socket_fd = -1;  // readable (EOF) once the writer is gone
};

// Receives one registration on an accepted connection and answers it. On refusal (no fd,
// a ring of an unknown version, ...) the connection is answered and closed and *error says
// why; the caller logs it and carries on.
bool AcceptRing(int connection_fd, AcceptedRing* out, std::string* error);
void ReleaseRing(AcceptedRing* ring);

}  // namespace bulwark::ring
