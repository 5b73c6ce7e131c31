// Fortran callers of the non-blocking collectives, and the Fortran Wait/Test family that
// completes them (Open MPI's Fortran Wait calls PMPI_Wait directly, past the C wrapper).
// Fortran request handles are integers: they are turned into C handles before the real
// call (which resets completed ones), and Fortran indices count from 1.
#include <numeric>
#include <vector>

#include "plugins/pmpi/fortran_names.h"
#include "plugins/pmpi/pmpi_hook.h"

using bulwark::pmpi::AnyPending;
using bulwark::pmpi::CompletePending;
using bulwark::pmpi::NonBlockingWith;
using bulwark::ring::Op;

namespace {

using F = MPI_Fint;
constexpr uint8_t kFortran = bulwark::ring::kFortran;

MPI_Comm C(const F* comm) { return MPI_Comm_f2c(*comm); }
MPI_Datatype T(const F* type) { return MPI_Type_f2c(*type); }
int Size(const F* comm) {
  int size = 0;
  PMPI_Comm_size(C(comm), &size);
  return size;
}

// Runs a Fortran non-blocking call through the hook.
template <typename Call>
void Start(Op op, const F* comm, MPI_Datatype type, int64_t count, F* request, F* ierr, Call&& call) {
  NonBlockingWith(op, C(comm), type, count, kFortran, [&] {
    call();
    return static_cast<int>(*ierr);
  }, [request] { return MPI_Request_f2c(*request); });
}

// C handles of Fortran requests, taken before the real Wait/Test; empty when nothing waits.
std::vector<MPI_Request> Handles(const F* requests, F count) {
  std::vector<MPI_Request> out;
  if (!AnyPending() || !requests) return out;
  for (F i = 0; i < count; ++i) out.push_back(MPI_Request_f2c(requests[i]));
  return out;
}

void CompleteAll(const std::vector<MPI_Request>& h) { CompletePending(h.data(), static_cast<int>(h.size())); }
void CompleteOneBased(const std::vector<MPI_Request>& h, F index) {
  if (index >= 1 && index <= static_cast<F>(h.size())) CompletePending(&h[static_cast<size_t>(index - 1)], 1);
}

}  // namespace

extern "C" {

void pmpi_iallreduce_(void*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_ireduce_(void*, void*, F*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_ibcast_(void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_iallgather_(void*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_igather_(void*, F*, F*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_iscatter_(void*, F*, F*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_ialltoall_(void*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_ireduce_scatter_block_(void*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_ibarrier_(F*, F*, F*) __attribute__((weak));
void pmpi_iscan_(void*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_iexscan_(void*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_wait_(F*, F*, F*) __attribute__((weak));
void pmpi_waitall_(F*, F*, F*, F*) __attribute__((weak));
void pmpi_waitany_(F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_waitsome_(F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_test_(F*, F*, F*, F*) __attribute__((weak));
void pmpi_testall_(F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_testany_(F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_testsome_(F*, F*, F*, F*, F*, F*) __attribute__((weak));

void mpi_iallreduce_(void* s, void* r, F* count, F* type, F* op, F* comm, F* req, F* ierr) {
  Start(Op::kAllreduce, comm, T(type), *count, req, ierr, [&] { pmpi_iallreduce_(s, r, count, type, op, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_iallreduce, MPI_IALLREDUCE)

void mpi_ireduce_(void* s, void* r, F* count, F* type, F* op, F* root, F* comm, F* req, F* ierr) {
  Start(Op::kReduce, comm, T(type), *count, req, ierr, [&] { pmpi_ireduce_(s, r, count, type, op, root, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_ireduce, MPI_IREDUCE)

void mpi_ibcast_(void* buf, F* count, F* type, F* root, F* comm, F* req, F* ierr) {
  Start(Op::kBcast, comm, T(type), *count, req, ierr, [&] { pmpi_ibcast_(buf, count, type, root, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_ibcast, MPI_IBCAST)

void mpi_iallgather_(void* s, F* sc, F* st, void* r, F* rc, F* rt, F* comm, F* req, F* ierr) {
  Start(Op::kAllgather, comm, T(st), *sc, req, ierr, [&] { pmpi_iallgather_(s, sc, st, r, rc, rt, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_iallgather, MPI_IALLGATHER)

void mpi_igather_(void* s, F* sc, F* st, void* r, F* rc, F* rt, F* root, F* comm, F* req, F* ierr) {
  Start(Op::kGather, comm, T(st), *sc, req, ierr, [&] { pmpi_igather_(s, sc, st, r, rc, rt, root, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_igather, MPI_IGATHER)

void mpi_iscatter_(void* s, F* sc, F* st, void* r, F* rc, F* rt, F* root, F* comm, F* req, F* ierr) {
  Start(Op::kScatter, comm, T(rt), *rc, req, ierr, [&] { pmpi_iscatter_(s, sc, st, r, rc, rt, root, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_iscatter, MPI_ISCATTER)

void mpi_ialltoall_(void* s, F* sc, F* st, void* r, F* rc, F* rt, F* comm, F* req, F* ierr) {
  Start(Op::kAlltoall, comm, T(st), static_cast<int64_t>(*sc) * Size(comm), req, ierr,
        [&] { pmpi_ialltoall_(s, sc, st, r, rc, rt, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_ialltoall, MPI_IALLTOALL)

void mpi_ireduce_scatter_block_(void* s, void* r, F* rc, F* type, F* op, F* comm, F* req, F* ierr) {
  Start(Op::kReduceScatterBlock, comm, T(type), static_cast<int64_t>(*rc) * Size(comm), req, ierr,
        [&] { pmpi_ireduce_scatter_block_(s, r, rc, type, op, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_ireduce_scatter_block, MPI_IREDUCE_SCATTER_BLOCK)

void mpi_ibarrier_(F* comm, F* req, F* ierr) {
  Start(Op::kBarrier, comm, MPI_DATATYPE_NULL, 0, req, ierr, [&] { pmpi_ibarrier_(comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_ibarrier, MPI_IBARRIER)

void mpi_iscan_(void* s, void* r, F* count, F* type, F* op, F* comm, F* req, F* ierr) {
  Start(Op::kScan, comm, T(type), *count, req, ierr, [&] { pmpi_iscan_(s, r, count, type, op, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_iscan, MPI_ISCAN)

void mpi_iexscan_(void* s, void* r, F* count, F* type, F* op, F* comm, F* req, F* ierr) {
  Start(Op::kExscan, comm, T(type), *count, req, ierr, [&] { pmpi_iexscan_(s, r, count, type, op, comm, req, ierr); });
}
BULWARK_FORTRAN_ALIASES(mpi_iexscan, MPI_IEXSCAN)

// --- completion ---------------------------------------------------------------------------

void mpi_wait_(F* request, F* status, F* ierr) {
  const auto h = Handles(request, 1);
  pmpi_wait_(request, status, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS) CompleteAll(h);
}
BULWARK_FORTRAN_ALIASES(mpi_wait, MPI_WAIT)

void mpi_waitall_(F* count, F* requests, F* statuses, F* ierr) {
  const auto h = Handles(requests, *count);
  pmpi_waitall_(count, requests, statuses, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS) CompleteAll(h);
}
BULWARK_FORTRAN_ALIASES(mpi_waitall, MPI_WAITALL)

void mpi_waitany_(F* count, F* requests, F* index, F* status, F* ierr) {
  const auto h = Handles(requests, *count);
  pmpi_waitany_(count, requests, index, status, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS) CompleteOneBased(h, *index);
}
BULWARK_FORTRAN_ALIASES(mpi_waitany, MPI_WAITANY)

void mpi_waitsome_(F* incount, F* requests, F* outcount, F* indices, F* statuses, F* ierr) {
  const auto h = Handles(requests, *incount);
  pmpi_waitsome_(incount, requests, outcount, indices, statuses, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS && *outcount != MPI_UNDEFINED) {
    for (F i = 0; i < *outcount; ++i) CompleteOneBased(h, indices[i]);
  }
}
BULWARK_FORTRAN_ALIASES(mpi_waitsome, MPI_WAITSOME)

void mpi_test_(F* request, F* flag, F* status, F* ierr) {
  const auto h = Handles(request, 1);
  pmpi_test_(request, flag, status, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS && *flag) CompleteAll(h);
}
BULWARK_FORTRAN_ALIASES(mpi_test, MPI_TEST)

void mpi_testall_(F* count, F* requests, F* flag, F* statuses, F* ierr) {
  const auto h = Handles(requests, *count);
  pmpi_testall_(count, requests, flag, statuses, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS && *flag) CompleteAll(h);
}
BULWARK_FORTRAN_ALIASES(mpi_testall, MPI_TESTALL)

void mpi_testany_(F* count, F* requests, F* index, F* flag, F* status, F* ierr) {
  const auto h = Handles(requests, *count);
  pmpi_testany_(count, requests, index, flag, status, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS && *flag) CompleteOneBased(h, *index);
}
BULWARK_FORTRAN_ALIASES(mpi_testany, MPI_TESTANY)

void mpi_testsome_(F* incount, F* requests, F* outcount, F* indices, F* statuses, F* ierr) {
  const auto h = Handles(requests, *incount);
  pmpi_testsome_(incount, requests, outcount, indices, statuses, ierr);
  if (!h.empty() && *ierr == MPI_SUCCESS && *outcount != MPI_UNDEFINED) {
    for (F i = 0; i < *outcount; ++i) CompleteOneBased(h, indices[i]);
  }
}
BULWARK_FORTRAN_ALIASES(mpi_testsome, MPI_TESTSOME)

}  // extern "C"
