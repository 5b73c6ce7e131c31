// Fortran compilers mangle MPI_ALLREDUCE as mpi_allreduce_, mpi_allreduce__, mpi_allreduce
// or MPI_ALLREDUCE; Open MPI's Fortran library defines all four. After defining the `_`
// form, this defines the other three as aliases of it.
#pragma once

#define BULWARK_FORTRAN_ALIASES(lower, UPPER)                      \
  decltype(lower##_) lower##__ __attribute__((alias(#lower "_"))); \
  decltype(lower##_) lower __attribute__((alias(#lower "_")));     \
  decltype(lower##_) UPPER __attribute__((alias(#lower "_")));
