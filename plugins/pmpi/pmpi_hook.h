// What every PMPI wrapper does around the real call: find the communicator, take the next
// sequence number, time the call, and leave one record in the ring. Internal to
// libbulwark-pmpi.so.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "common/event_ring.h"
#include "plugins/hook_ring.h"
#include "plugins/pmpi/comm_registry.h"

namespace bulwark::pmpi {

// The ring when this process records, else nullptr. Sets the hook up on first use after
// MPI_Init (Fortran programs initialize MPI without passing through our MPI_Init).
ring::RingWriter* Recording();
// Called from our MPI_Init / MPI_Init_thread once MPI is up.
void SetUp();

ring::DataType TypeCode(MPI_Datatype type);
uint64_t TypeBytes(MPI_Datatype type, int64_t count);
int WorldRank();
int ProcessId();

// Pending non-blocking collectives, completed from the Wait/Test wrappers.
void AddPending(MPI_Request request, const ring::Event& started);
void CompletePending(const MPI_Request* requests, int count);
// Whether any non-blocking collective awaits completion (the Wait/Test wrappers' fast path).
bool AnyPending();

inline ring::Event StartEvent(ring::Op op, const CommInfo& comm, uint64_t seq, MPI_Datatype type, int64_t count,
                              uint8_t flags) {
  ring::Event e{};
  e.comm_id = comm.id;
  e.seq = seq;
  e.bytes = TypeBytes(type, count);
  e.comm_rank = comm.rank;
  e.world_rank = WorldRank();
  e.op = op;
  e.flags = flags;
  e.datatype = static_cast<uint16_t>(TypeCode(type));
  e.pid = ProcessId();
  e.enter_ns = ring::MonotonicNs();
  return e;
}

// A blocking collective: `count` elements of `type` are this rank's payload.
template <typename Call>
int Blocking(ring::Op op, MPI_Comm comm, MPI_Datatype type, int64_t count, uint8_t flags, Call&& call) {
  ring::RingWriter* ring = Recording();
  if (!ring) return call();
  CommInfo* c = LookupComm(comm);
  const uint64_t seq = c->next_seq.fetch_add(1, std::memory_order_relaxed);
  ring::Event e = StartEvent(op, *c, seq, type, count, flags);
  ring->Enter(op, c->id, seq, e.enter_ns);
  const int rc = call();
  e.exit_ns = ring::MonotonicNs();
  ring->Append(e);
  ring->Leave();
  return rc;
}

// A non-blocking collective: a record when it starts (flagged entered) and one when a
// Wait/Test sees it complete. `call` returns the MPI error code; `request_after` the C
// handle of the request it created.
template <typename Call, typename RequestAfter>
int NonBlockingWith(ring::Op op, MPI_Comm comm, MPI_Datatype type, int64_t count, uint8_t flags, Call&& call,
                    RequestAfter&& request_after) {
  ring::RingWriter* ring = Recording();
  if (!ring) return call();
  CommInfo* c = LookupComm(comm);
  const uint64_t seq = c->next_seq.fetch_add(1, std::memory_order_relaxed);
  ring::Event e = StartEvent(op, *c, seq, type, count, flags | ring::kNonBlocking);
  const int rc = call();
  if (rc != MPI_SUCCESS) return rc;
  ring::Event entered = e;
  entered.flags |= ring::kEntered;
  ring->Append(entered);
  const MPI_Request request = request_after();
  if (request == MPI_REQUEST_NULL) {  // done already (a one-rank communicator, say)
    e.exit_ns = ring::MonotonicNs();
    ring->Append(e);
  } else {
    AddPending(request, e);
  }
  return rc;
}

template <typename Call>
int NonBlocking(ring::Op op, MPI_Comm comm, MPI_Datatype type, int64_t count, uint8_t flags, MPI_Request* request,
                Call&& call) {
  return NonBlockingWith(op, comm, type, count, flags, call, [request] { return *request; });
}

}  // namespace bulwark::pmpi
