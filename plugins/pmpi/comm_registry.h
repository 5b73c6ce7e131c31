// Gives every communicator an id that all its members agree on without exchanging a
// message, and counts each communicator's collectives the same way on every member.
//
// The id of a new communicator hashes its parent's id, how many communicators the parent
// had created before (every member of the parent calls creation functions in the same
// order, as MPI requires), and the world ranks of its members (which tells apart the
// communicators that one MPI_Comm_split makes). A communicator first seen in a collective,
// created by a call the hook does not wrap, gets the hash of its members' world ranks and
// of how many such communicators with those members came before.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>

namespace bulwark::pmpi {

struct CommInfo {
  uint64_t id = 0;
  int rank = 0;  // this process's rank in the communicator
  int size = 0;
  std::atomic<uint64_t> next_seq{0};
  std::atomic<uint64_t> children{0};  // communicators created from this one so far
};

// MPI_COMM_WORLD and MPI_COMM_SELF; call after MPI is initialized.
void RegisterPredefined();
// The info of `comm`, registered on first sight. Never null for a valid communicator.
CommInfo* LookupComm(MPI_Comm comm);
// After a creation call on `parent` returned `child` (MPI_COMM_NULL where this process is
// not a member: the parent's count still advances).
void RegisterChild(MPI_Comm parent, MPI_Comm child);
// Before MPI_Comm_free: the handle may be reused for another communicator.
void ForgetComm(MPI_Comm comm);

}  // namespace bulwark::pmpi
