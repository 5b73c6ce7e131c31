! Fortran callers of the collectives (pmpi_hook_test.cpp, kFortranSequence).
program collectives_probe
  use mpi
  implicit none
  integer :: ierr, rank, n, idx, outcount
  integer :: req(2), indices(2)
  logical :: flag
  integer :: ibuf(64), ibuf2(64)
  double precision :: dbuf(64), dbuf2(64)
  real :: rbuf(64)
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, n, ierr)
  ibuf = rank
  dbuf = 1.0d0
  rbuf = 2.0
  call MPI_Allreduce(ibuf, ibuf2, 4, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  call MPI_Bcast(dbuf, 8, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Reduce(rbuf, rbuf(33), 3, MPI_REAL, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
  call MPI_Allgather(ibuf, 2, MPI_INTEGER, ibuf2, 2, MPI_INTEGER, MPI_COMM_WORLD, ierr)
  call MPI_Alltoall(dbuf, 1, MPI_DOUBLE_PRECISION, dbuf2, 1, MPI_DOUBLE_PRECISION, MPI_COMM_WORLD, ierr)
  ! Non-blocking, completed through the Fortran Wait/Test forms.
  call MPI_Iallreduce(ibuf, ibuf2, 3, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, req(1), ierr)
  call MPI_Wait(req(1), MPI_STATUS_IGNORE, ierr)
  call MPI_Ibarrier(MPI_COMM_WORLD, req(1), ierr)
  call MPI_Ibcast(dbuf, 2, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, req(2), ierr)
  call MPI_Waitall(2, req, MPI_STATUSES_IGNORE, ierr)
  call MPI_Iallgather(ibuf, 1, MPI_INTEGER, ibuf2, 1, MPI_INTEGER, MPI_COMM_WORLD, req(1), ierr)
  flag = .false.
  do while (.not. flag)
    call MPI_Test(req(1), flag, MPI_STATUS_IGNORE, ierr)
  end do
  call MPI_Iscan(ibuf, ibuf2, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, req(1), ierr)
  call MPI_Waitany(1, req, idx, MPI_STATUS_IGNORE, ierr)
  call MPI_Ialltoall(ibuf, 1, MPI_INTEGER, ibuf2, 1, MPI_INTEGER, MPI_COMM_WORLD, req(1), ierr)
  outcount = 0
  do while (outcount == 0)
    call MPI_Testsome(1, req, outcount, indices, MPI_STATUSES_IGNORE, ierr)
  end do
  call MPI_Finalize(ierr)
end program collectives_probe
