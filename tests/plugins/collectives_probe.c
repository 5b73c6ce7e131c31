/* Calls every collective the PMPI hook covers, in a fixed order the test knows
 * (pmpi_hook_test.cpp, kWorldSequence). Knows nothing about Bulwark. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  MPI_Comm w = MPI_COMM_WORLD;
  int ibuf[4 * MAXN], ibuf2[4 * MAXN], ones[MAXN], displs[MAXN];
  double dbuf[8 * MAXN], dbuf2[8 * MAXN];
  float fbuf[16 * MAXN];
  char cbuf[8 * MAXN], cbuf2[8 * MAXN];
  long lbuf[MAXN], lbuf2[MAXN];
  MPI_Datatype ints[MAXN];
  for (int i = 0; i < MAXN; ++i) {
    ones[i] = 1;
    displs[i] = i;
    ints[i] = MPI_INT;
  }
  memset(ibuf, 0, sizeof(ibuf));
  memset(dbuf, 0, sizeof(dbuf));
  memset(fbuf, 0, sizeof(fbuf));
  memset(cbuf, 0, sizeof(cbuf));
  memset(lbuf, 0, sizeof(lbuf));
  int twos[MAXN], even[MAXN];
  for (int i = 0; i < MAXN; ++i) {
    twos[i] = 2;
    even[i] = 2 * i;
  }
  int fives[MAXN], fivedispl[MAXN];
  for (int i = 0; i < MAXN; ++i) {
    fives[i] = 5;
    fivedispl[i] = 5 * i;
  }
  int sixes[MAXN], sixdispl[MAXN];
  for (int i = 0; i < MAXN; ++i) {
    sixes[i] = 6;
    sixdispl[i] = 6 * i;
  }

  /* Blocking, on MPI_COMM_WORLD. */
  MPI_Allreduce(ibuf, ibuf2, 4, MPI_INT, MPI_SUM, w);
  MPI_Reduce(dbuf, dbuf2, 8, MPI_DOUBLE, MPI_SUM, 0, w);
  MPI_Bcast(fbuf, 3, MPI_FLOAT, 0, w);
  MPI_Allgather(ibuf, 2, MPI_INT, ibuf2, 2, MPI_INT, w);
  MPI_Allgatherv(ibuf, 2, MPI_INT, ibuf2, twos, even, MPI_INT, w);
  MPI_Gather(cbuf, 5, MPI_CHAR, cbuf2, 5, MPI_CHAR, 0, w);
  MPI_Gatherv(cbuf, 5, MPI_CHAR, cbuf2, fives, fivedispl, MPI_CHAR, 0, w);
  MPI_Scatter(cbuf, 6, MPI_BYTE, cbuf2, 6, MPI_BYTE, 0, w);
  MPI_Scatterv(cbuf, sixes, sixdispl, MPI_BYTE, cbuf2, 6, MPI_BYTE, 0, w);
  MPI_Reduce_scatter(ibuf, ibuf2, twos, MPI_INT, MPI_SUM, w);
  MPI_Reduce_scatter_block(dbuf, dbuf2, 3, MPI_DOUBLE, MPI_SUM, w);
  MPI_Alltoall(lbuf, 1, MPI_LONG, lbuf2, 1, MPI_LONG, w);
  MPI_Alltoallv(lbuf, ones, displs, MPI_LONG, lbuf2, ones, displs, MPI_LONG, w);
  int bdispl[MAXN];
  for (int i = 0; i < MAXN; ++i) bdispl[i] = 4 * i;
  MPI_Alltoallw(ibuf, ones, bdispl, ints, ibuf2, ones, bdispl, ints, w);
  MPI_Barrier(w);
  MPI_Scan(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, w);
  MPI_Exscan(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, w);

  /* Non-blocking, completed through each Wait/Test form. */
  MPI_Request r[4];
  int flag = 0, index, outcount, indices[4];
  MPI_Iallreduce(ibuf, ibuf2, 4, MPI_INT, MPI_SUM, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Ibcast(dbuf, 2, MPI_DOUBLE, 0, w, &r[0]);
  do MPI_Test(&r[0], &flag, MPI_STATUS_IGNORE); while (!flag);
  MPI_Ibarrier(w, &r[0]);
  MPI_Iallgather(ibuf, 1, MPI_INT, ibuf2, 1, MPI_INT, w, &r[1]);
  MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
  MPI_Ireduce(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, 0, w, &r[0]);
  MPI_Waitany(1, r, &index, MPI_STATUS_IGNORE);
  MPI_Ialltoall(ibuf, 1, MPI_INT, ibuf2, 1, MPI_INT, w, &r[0]);
  outcount = 0;
  while (outcount == 0) MPI_Waitsome(1, r, &outcount, indices, MPI_STATUSES_IGNORE);
  MPI_Iscan(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, w, &r[0]);
  do MPI_Testall(1, r, &flag, MPI_STATUSES_IGNORE); while (!flag);
  MPI_Iexscan(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, w, &r[0]);
  do MPI_Testany(1, r, &index, &flag, MPI_STATUS_IGNORE); while (!flag);
  MPI_Igather(ibuf, 1, MPI_INT, ibuf2, 1, MPI_INT, 0, w, &r[0]);
  outcount = 0;
  while (outcount == 0) MPI_Testsome(1, r, &outcount, indices, MPI_STATUSES_IGNORE);
  MPI_Ireduce_scatter_block(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Iscatter(ibuf, 1, MPI_INT, ibuf2, 1, MPI_INT, 0, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Igatherv(ibuf, 1, MPI_INT, ibuf2, ones, displs, MPI_INT, 0, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Iscatterv(ibuf, ones, displs, MPI_INT, ibuf2, 1, MPI_INT, 0, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Iallgatherv(ibuf, 1, MPI_INT, ibuf2, ones, displs, MPI_INT, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Ialltoallv(ibuf, ones, displs, MPI_INT, ibuf2, ones, displs, MPI_INT, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Ialltoallw(ibuf, ones, bdispl, ints, ibuf2, ones, bdispl, ints, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);
  MPI_Ireduce_scatter(ibuf, ibuf2, ones, MPI_INT, MPI_SUM, w, &r[0]);
  MPI_Wait(&r[0], MPI_STATUS_IGNORE);

  /* Derived communicators: a split (even and odd ranks) and a duplicate of the world. */
  MPI_Comm half, dup;
  MPI_Comm_split(w, rank % 2, rank, &half);
  MPI_Allreduce(fbuf, fbuf + MAXN, 10, MPI_FLOAT, MPI_SUM, half);
  MPI_Barrier(half);
  MPI_Comm_dup(w, &dup);
  MPI_Allreduce(ibuf, ibuf2, 1, MPI_INT, MPI_SUM, dup);
  MPI_Comm_free(&half);
  MPI_Comm_free(&dup);
  MPI_Finalize();
  return 0;
}
