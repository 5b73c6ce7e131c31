// The C collectives, blocking and non-blocking. "Payload" is what this rank contributes:
// the reduced vector for reductions, the broadcast buffer, its own block for gathers, what
// it receives for scatters, all it sends for all-to-all.
#include <numeric>

#include "plugins/pmpi/pmpi_hook.h"

using bulwark::pmpi::Blocking;
using bulwark::pmpi::NonBlocking;
using bulwark::ring::Op;

namespace {

int CommSize(MPI_Comm comm) {
  int size = 0;
  PMPI_Comm_size(comm, &size);
  return size;
}
int CommRank(MPI_Comm comm) {
  int rank = 0;
  PMPI_Comm_rank(comm, &rank);
  return rank;
}
int64_t Sum(const int* counts, int n) { return counts ? std::accumulate(counts, counts + n, int64_t{0}) : 0; }

// All-to-all-w mixes types: its payload is counted in bytes.
int64_t AlltoallwBytes(const int* counts, const MPI_Datatype* types, int n) {
  int64_t bytes = 0;
  for (int i = 0; counts && types && i < n; ++i) {
    int size = 0;
    PMPI_Type_size(types[i], &size);
    bytes += static_cast<int64_t>(counts[i]) * size;
  }
  return bytes;
}

}  // namespace

extern "C" {

int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  return Blocking(Op::kAllreduce, comm, type, count, 0,
                  [&] { return PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm); });
}

int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm) {
  return Blocking(Op::kReduce, comm, type, count, 0,
                  [&] { return PMPI_Reduce(sendbuf, recvbuf, count, type, op, root, comm); });
}

int MPI_Bcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  return Blocking(Op::kBcast, comm, type, count, 0, [&] { return PMPI_Bcast(buffer, count, type, root, comm); });
}

int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kAllgather, comm, in_place ? recvtype : sendtype, in_place ? recvcount : sendcount, 0, [&] {
    return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
  });
}

int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                   const int displs[], MPI_Datatype recvtype, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kAllgatherv, comm, in_place ? recvtype : sendtype,
                  in_place ? recvcounts[CommRank(comm)] : sendcount, 0, [&] {
                    return PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm);
                  });
}

int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
               MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kGather, comm, in_place ? recvtype : sendtype, in_place ? recvcount : sendcount, 0, [&] {
    return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
  });
}

int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kGatherv, comm, in_place ? recvtype : sendtype, in_place ? recvcounts[root] : sendcount, 0,
                  [&] {
                    return PMPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,
                                        comm);
                  });
}

int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const bool in_place = recvbuf == MPI_IN_PLACE;
  return Blocking(Op::kScatter, comm, in_place ? sendtype : recvtype, in_place ? sendcount : recvcount, 0, [&] {
    return PMPI_Scatter(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
  });
}

int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype, void* recvbuf,
                 int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const bool in_place = recvbuf == MPI_IN_PLACE;
  return Blocking(Op::kScatterv, comm, in_place ? sendtype : recvtype,
                  in_place ? sendcounts[root] : recvcount, 0, [&] {
                    return PMPI_Scatterv(sendbuf, sendcounts, displs, sendtype, recvbuf, recvcount, recvtype, root,
                                         comm);
                  });
}

int MPI_Reduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[], MPI_Datatype type, MPI_Op op,
                       MPI_Comm comm) {
  return Blocking(Op::kReduceScatter, comm, type, Sum(recvcounts, CommSize(comm)), 0,
                  [&] { return PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, type, op, comm); });
}

int MPI_Reduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount, MPI_Datatype type, MPI_Op op,
                             MPI_Comm comm) {
  return Blocking(Op::kReduceScatterBlock, comm, type, static_cast<int64_t>(recvcount) * CommSize(comm), 0,
                  [&] { return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, type, op, comm); });
}

int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                 MPI_Datatype recvtype, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kAlltoall, comm, in_place ? recvtype : sendtype,
                  static_cast<int64_t>(in_place ? recvcount : sendcount) * CommSize(comm), 0, [&] {
                    return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
                  });
}

int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                  void* recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return Blocking(Op::kAlltoallv, comm, in_place ? recvtype : sendtype,
                  Sum(in_place ? recvcounts : sendcounts, CommSize(comm)), 0, [&] {
                    return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                                          recvtype, comm);
                  });
}

int MPI_Alltoallw(const void* sendbuf, const int sendcounts[], const int sdispls[], const MPI_Datatype sendtypes[],
                  void* recvbuf, const int recvcounts[], const int rdispls[], const MPI_Datatype recvtypes[],
                  MPI_Comm comm) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const int64_t bytes = in_place ? AlltoallwBytes(recvcounts, recvtypes, CommSize(comm))
                                 : AlltoallwBytes(sendcounts, sendtypes, CommSize(comm));
  return Blocking(Op::kAlltoallw, comm, MPI_BYTE, bytes, 0, [&] {
    return PMPI_Alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls, recvtypes, comm);
  });
}

int MPI_Barrier(MPI_Comm comm) {
  return Blocking(Op::kBarrier, comm, MPI_DATATYPE_NULL, 0, 0, [&] { return PMPI_Barrier(comm); });
}

int MPI_Scan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  return Blocking(Op::kScan, comm, type, count, 0, [&] { return PMPI_Scan(sendbuf, recvbuf, count, type, op, comm); });
}

int MPI_Exscan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  return Blocking(Op::kExscan, comm, type, count, 0,
                  [&] { return PMPI_Exscan(sendbuf, recvbuf, count, type, op, comm); });
}

// --- non-blocking -----------------------------------------------------------------------

int MPI_Iallreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                   MPI_Request* request) {
  return NonBlocking(Op::kAllreduce, comm, type, count, 0, request,
                     [&] { return PMPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, request); });
}

int MPI_Ireduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm,
                MPI_Request* request) {
  return NonBlocking(Op::kReduce, comm, type, count, 0, request,
                     [&] { return PMPI_Ireduce(sendbuf, recvbuf, count, type, op, root, comm, request); });
}

int MPI_Ibcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request* request) {
  return NonBlocking(Op::kBcast, comm, type, count, 0, request,
                     [&] { return PMPI_Ibcast(buffer, count, type, root, comm, request); });
}

int MPI_Iallgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                   MPI_Datatype recvtype, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kAllgather, comm, in_place ? recvtype : sendtype, in_place ? recvcount : sendcount, 0,
                     request, [&] {
                       return PMPI_Iallgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm,
                                              request);
                     });
}

int MPI_Iallgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                    const int displs[], MPI_Datatype recvtype, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kAllgatherv, comm, in_place ? recvtype : sendtype,
                     in_place ? recvcounts[CommRank(comm)] : sendcount, 0, request, [&] {
                       return PMPI_Iallgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype,
                                               comm, request);
                     });
}

int MPI_Igather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kGather, comm, in_place ? recvtype : sendtype, in_place ? recvcount : sendcount, 0, request,
                     [&] {
                       return PMPI_Igather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm,
                                           request);
                     });
}

int MPI_Igatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                 const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kGatherv, comm, in_place ? recvtype : sendtype, in_place ? recvcounts[root] : sendcount, 0,
                     request, [&] {
                       return PMPI_Igatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,
                                            comm, request);
                     });
}

int MPI_Iscatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                 MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = recvbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kScatter, comm, in_place ? sendtype : recvtype, in_place ? sendcount : recvcount, 0, request,
                     [&] {
                       return PMPI_Iscatter(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm,
                                            request);
                     });
}

int MPI_Iscatterv(const void* sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype,
                  void* recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = recvbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kScatterv, comm, in_place ? sendtype : recvtype, in_place ? sendcounts[root] : recvcount, 0,
                     request, [&] {
                       return PMPI_Iscatterv(sendbuf, sendcounts, displs, sendtype, recvbuf, recvcount, recvtype, root,
                                             comm, request);
                     });
}

int MPI_Ireduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[], MPI_Datatype type, MPI_Op op,
                        MPI_Comm comm, MPI_Request* request) {
  return NonBlocking(Op::kReduceScatter, comm, type, Sum(recvcounts, CommSize(comm)), 0, request,
                     [&] { return PMPI_Ireduce_scatter(sendbuf, recvbuf, recvcounts, type, op, comm, request); });
}

int MPI_Ireduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm, MPI_Request* request) {
  return NonBlocking(Op::kReduceScatterBlock, comm, type, static_cast<int64_t>(recvcount) * CommSize(comm), 0, request,
                     [&] { return PMPI_Ireduce_scatter_block(sendbuf, recvbuf, recvcount, type, op, comm, request); });
}

int MPI_Ialltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kAlltoall, comm, in_place ? recvtype : sendtype,
                     static_cast<int64_t>(in_place ? recvcount : sendcount) * CommSize(comm), 0, request, [&] {
                       return PMPI_Ialltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm,
                                             request);
                     });
}

int MPI_Ialltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                   void* recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm,
                   MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  return NonBlocking(Op::kAlltoallv, comm, in_place ? recvtype : sendtype,
                     Sum(in_place ? recvcounts : sendcounts, CommSize(comm)), 0, request, [&] {
                       return PMPI_Ialltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                                              recvtype, comm, request);
                     });
}

int MPI_Ialltoallw(const void* sendbuf, const int sendcounts[], const int sdispls[], const MPI_Datatype sendtypes[],
                   void* recvbuf, const int recvcounts[], const int rdispls[], const MPI_Datatype recvtypes[],
                   MPI_Comm comm, MPI_Request* request) {
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const int64_t bytes = in_place ? AlltoallwBytes(recvcounts, recvtypes, CommSize(comm))
                                 : AlltoallwBytes(sendcounts, sendtypes, CommSize(comm));
  return NonBlocking(Op::kAlltoallw, comm, MPI_BYTE, bytes, 0, request, [&] {
    return PMPI_Ialltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls, recvtypes, comm,
                           request);
  });
}

int MPI_Ibarrier(MPI_Comm comm, MPI_Request* request) {
  return NonBlocking(Op::kBarrier, comm, MPI_DATATYPE_NULL, 0, 0, request,
                     [&] { return PMPI_Ibarrier(comm, request); });
}

int MPI_Iscan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
              MPI_Request* request) {
  return NonBlocking(Op::kScan, comm, type, count, 0, request,
                     [&] { return PMPI_Iscan(sendbuf, recvbuf, count, type, op, comm, request); });
}

int MPI_Iexscan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                MPI_Request* request) {
  return NonBlocking(Op::kExscan, comm, type, count, 0, request,
                     [&] { return PMPI_Iexscan(sendbuf, recvbuf, count, type, op, comm, request); });
}

}  // extern "C"
