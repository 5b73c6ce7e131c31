/* MPI_Allreduce latency at 8 B and 1 MiB: medians over batches (a batch's mean per call),
 * printed by rank 0 as one JSON line. Run by bench_pmpi with and without the hook. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int Compare(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double MedianBatchUs(MPI_Comm comm, int count, int calls, int batches, char* send, char* recv) {
  double* means = malloc(sizeof(double) * (size_t)batches);
  for (int w = 0; w < calls; ++w) MPI_Allreduce(send, recv, count, MPI_BYTE, MPI_BOR, comm);
  for (int b = 0; b < batches; ++b) {
    MPI_Barrier(comm);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < calls; ++i) MPI_Allreduce(send, recv, count, MPI_BYTE, MPI_BOR, comm);
    means[b] = (MPI_Wtime() - t0) * 1e6 / calls;
  }
  qsort(means, (size_t)batches, sizeof(double), Compare);
  const double median = means[batches / 2];
  free(means);
  return median;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int big = 1 << 20;
  char* send = calloc((size_t)big, 1);
  char* recv = calloc((size_t)big, 1);
  const double small_us = MedianBatchUs(MPI_COMM_WORLD, 8, 2000, 41, send, recv);
  const double big_us = MedianBatchUs(MPI_COMM_WORLD, big, 20, 41, send, recv);
  if (rank == 0) printf("{\"allreduce_8B_us\":%.4f,\"allreduce_1MiB_us\":%.3f}\n", small_us, big_us);
  free(send);
  free(recv);
  MPI_Finalize();
  return 0;
}
