// Fortran callers (mpif.h and `use mpi`). Open MPI's Fortran bindings call PMPI_* directly, so
// the C wrappers never see them: these wrappers stand in for the Fortran symbols and call
// Open MPI's Fortran PMPI entry points. Every Fortran name mangling is defined (foo_, foo__,
// foo, FOO). The pmpi_* symbols are weak: a C program that never loads the Fortran
// library leaves them null and never reaches these wrappers.
#include <numeric>

#include "plugins/pmpi/fortran_names.h"
#include "plugins/pmpi/pmpi_hook.h"

using bulwark::pmpi::Blocking;
using bulwark::ring::Op;

namespace {

constexpr uint8_t kFortran = bulwark::ring::kFortran;

MPI_Comm C(const MPI_Fint* comm) { return MPI_Comm_f2c(*comm); }
MPI_Datatype T(const MPI_Fint* type) { return MPI_Type_f2c(*type); }
int Size(const MPI_Fint* comm) {
  int size = 0;
  PMPI_Comm_size(C(comm), &size);
  return size;
}
int64_t Sum(const MPI_Fint* counts, int n) { return std::accumulate(counts, counts + n, int64_t{0}); }

}  // namespace

extern "C" {

using F = MPI_Fint;

void pmpi_allreduce_(void*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_reduce_(void*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_bcast_(void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_allgather_(void*, F*, F*, void*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_allgatherv_(void*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_gather_(void*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_gatherv_(void*, F*, F*, void*, F*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_scatter_(void*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_scatterv_(void*, F*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_reduce_scatter_(void*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_reduce_scatter_block_(void*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_alltoall_(void*, F*, F*, void*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_alltoallv_(void*, F*, F*, F*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_barrier_(F*, F*) __attribute__((weak));
void pmpi_scan_(void*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_exscan_(void*, void*, F*, F*, F*, F*, F*) __attribute__((weak));
void pmpi_finalize_(F*) __attribute__((weak));

void mpi_allreduce_(void* s, void* r, F* count, F* type, F* op, F* comm, F* ierr) {
  Blocking(Op::kAllreduce, C(comm), T(type), *count, kFortran, [&] {
    pmpi_allreduce_(s, r, count, type, op, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_allreduce, MPI_ALLREDUCE)

void mpi_reduce_(void* s, void* r, F* count, F* type, F* op, F* root, F* comm, F* ierr) {
  Blocking(Op::kReduce, C(comm), T(type), *count, kFortran, [&] {
    pmpi_reduce_(s, r, count, type, op, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_reduce, MPI_REDUCE)

void mpi_bcast_(void* buf, F* count, F* type, F* root, F* comm, F* ierr) {
  Blocking(Op::kBcast, C(comm), T(type), *count, kFortran, [&] {
    pmpi_bcast_(buf, count, type, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_bcast, MPI_BCAST)

void mpi_allgather_(void* s, F* scount, F* stype, void* r, F* rcount, F* rtype, F* comm, F* ierr) {
  Blocking(Op::kAllgather, C(comm), T(stype), *scount, kFortran, [&] {
    pmpi_allgather_(s, scount, stype, r, rcount, rtype, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_allgather, MPI_ALLGATHER)

void mpi_allgatherv_(void* s, F* scount, F* stype, void* r, F* rcounts, F* displs, F* rtype, F* comm, F* ierr) {
  Blocking(Op::kAllgatherv, C(comm), T(stype), *scount, kFortran, [&] {
    pmpi_allgatherv_(s, scount, stype, r, rcounts, displs, rtype, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_allgatherv, MPI_ALLGATHERV)

void mpi_gather_(void* s, F* scount, F* stype, void* r, F* rcount, F* rtype, F* root, F* comm, F* ierr) {
  Blocking(Op::kGather, C(comm), T(stype), *scount, kFortran, [&] {
    pmpi_gather_(s, scount, stype, r, rcount, rtype, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_gather, MPI_GATHER)

void mpi_gatherv_(void* s, F* scount, F* stype, void* r, F* rcounts, F* displs, F* rtype, F* root, F* comm,
                  F* ierr) {
  Blocking(Op::kGatherv, C(comm), T(stype), *scount, kFortran, [&] {
    pmpi_gatherv_(s, scount, stype, r, rcounts, displs, rtype, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_gatherv, MPI_GATHERV)

void mpi_scatter_(void* s, F* scount, F* stype, void* r, F* rcount, F* rtype, F* root, F* comm, F* ierr) {
  Blocking(Op::kScatter, C(comm), T(rtype), *rcount, kFortran, [&] {
    pmpi_scatter_(s, scount, stype, r, rcount, rtype, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_scatter, MPI_SCATTER)

void mpi_scatterv_(void* s, F* scounts, F* displs, F* stype, void* r, F* rcount, F* rtype, F* root, F* comm,
                   F* ierr) {
  Blocking(Op::kScatterv, C(comm), T(rtype), *rcount, kFortran, [&] {
    pmpi_scatterv_(s, scounts, displs, stype, r, rcount, rtype, root, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_scatterv, MPI_SCATTERV)

void mpi_reduce_scatter_(void* s, void* r, F* rcounts, F* type, F* op, F* comm, F* ierr) {
  Blocking(Op::kReduceScatter, C(comm), T(type), Sum(rcounts, Size(comm)), kFortran, [&] {
    pmpi_reduce_scatter_(s, r, rcounts, type, op, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_reduce_scatter, MPI_REDUCE_SCATTER)

void mpi_reduce_scatter_block_(void* s, void* r, F* rcount, F* type, F* op, F* comm, F* ierr) {
  Blocking(Op::kReduceScatterBlock, C(comm), T(type), static_cast<int64_t>(*rcount) * Size(comm), kFortran, [&] {
    pmpi_reduce_scatter_block_(s, r, rcount, type, op, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_reduce_scatter_block, MPI_REDUCE_SCATTER_BLOCK)

void mpi_alltoall_(void* s, F* scount, F* stype, void* r, F* rcount, F* rtype, F* comm, F* ierr) {
  Blocking(Op::kAlltoall, C(comm), T(stype), static_cast<int64_t>(*scount) * Size(comm), kFortran, [&] {
    pmpi_alltoall_(s, scount, stype, r, rcount, rtype, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_alltoall, MPI_ALLTOALL)

void mpi_alltoallv_(void* s, F* scounts, F* sdispls, F* stype, void* r, F* rcounts, F* rdispls, F* rtype, F* comm,
                    F* ierr) {
  Blocking(Op::kAlltoallv, C(comm), T(stype), Sum(scounts, Size(comm)), kFortran, [&] {
    pmpi_alltoallv_(s, scounts, sdispls, stype, r, rcounts, rdispls, rtype, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_alltoallv, MPI_ALLTOALLV)

void mpi_barrier_(F* comm, F* ierr) {
  Blocking(Op::kBarrier, C(comm), MPI_DATATYPE_NULL, 0, kFortran, [&] {
    pmpi_barrier_(comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_barrier, MPI_BARRIER)

void mpi_scan_(void* s, void* r, F* count, F* type, F* op, F* comm, F* ierr) {
  Blocking(Op::kScan, C(comm), T(type), *count, kFortran, [&] {
    pmpi_scan_(s, r, count, type, op, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_scan, MPI_SCAN)

void mpi_exscan_(void* s, void* r, F* count, F* type, F* op, F* comm, F* ierr) {
  Blocking(Op::kExscan, C(comm), T(type), *count, kFortran, [&] {
    pmpi_exscan_(s, r, count, type, op, comm, ierr);
    return 0;
  });
}
BULWARK_FORTRAN_ALIASES(mpi_exscan, MPI_EXSCAN)

// Fortran's MPI_Finalize bypasses the C one too: without this the agent would take every
// Fortran rank's exit for a crash.
void mpi_finalize_(F* ierr) {
  if (auto* ring = bulwark::pmpi::Recording()) {
    ring->Leave();
    bulwark::hook::SayFinished();
  }
  pmpi_finalize_(ierr);
}
BULWARK_FORTRAN_ALIASES(mpi_finalize, MPI_FINALIZE)

}  // extern "C"
