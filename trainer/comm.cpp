#include "trainer/comm.h"

#include <mpi.h>

#include <climits>
#include <cstring>
#include <stdexcept>

namespace bulwark::train {

void SoloComm::ReduceScatterSum(const float* in, float* out, size_t chunk) {
  std::memcpy(out, in, chunk * sizeof(float));
}

MpiComm::MpiComm() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

namespace {
int CountOrThrow(size_t chunk) {
  if (chunk > static_cast<size_t>(INT_MAX)) throw std::length_error("MPI chunk exceeds INT_MAX elements");
  return static_cast<int>(chunk);
}
}  // namespace

void MpiComm::ReduceScatterSum(const float* in, float* out, size_t chunk) {
  const int count = CountOrThrow(chunk);
  inbox_.resize(chunk * size_);
  MPI_Alltoall(in, count, MPI_FLOAT, inbox_.data(), count, MPI_FLOAT, MPI_COMM_WORLD);
  std::memcpy(out, inbox_.data(), chunk * sizeof(float));
  for (int r = 1; r < size_; ++r) {
    const float* src = inbox_.data() + r * chunk;
    for (size_t i = 0; i < chunk; ++i) out[i] += src[i];
  }
}

void MpiComm::AllGather(float* buf, size_t chunk) {
  MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, CountOrThrow(chunk), MPI_FLOAT, MPI_COMM_WORLD);
}

std::vector<double> MpiComm::AllGatherDouble(double value) {
  std::vector<double> all(size_);
  MPI_Allgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
}

std::vector<uint64_t> MpiComm::AllGatherU64(uint64_t value) {
  std::vector<uint64_t> all(size_);
  MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  return all;
}

}  // namespace bulwark::train
