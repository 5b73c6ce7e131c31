// The collectives the trainer needs, behind an interface so that the training step can
// run in one process in unit tests (SoloComm) and under mpirun for real (MpiComm).
//
// Reductions are deterministic by construction: ReduceScatterSum moves every rank's chunk
// with an all-to-all and sums the contributions in rank order on the owner, so the bits do
// not depend on which algorithm Open MPI picks or where the ranks land.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/huge_page_allocator.h"

namespace bulwark::train {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // in holds size() chunks of `chunk` floats; out[chunk] = Σ over ranks r, in rank order,
  // of rank r's chunk number rank().
  virtual void ReduceScatterSum(const float* in, float* out, size_t chunk) = 0;
  // buf holds size() chunks; this rank's chunk is at rank() · chunk; afterwards all are filled.
  virtual void AllGather(float* buf, size_t chunk) = 0;
  virtual std::vector<double> AllGatherDouble(double value) = 0;
  virtual std::vector<uint64_t> AllGatherU64(uint64_t value) = 0;
};

class SoloComm : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void ReduceScatterSum(const float* in, float* out, size_t chunk) override;
  void AllGather(float*, size_t) override {}
  std::vector<double> AllGatherDouble(double value) override { return {value}; }
  std::vector<uint64_t> AllGatherU64(uint64_t value) override { return {value}; }
};

// Over MPI_COMM_WORLD. MPI must be initialised first.
class MpiComm : public Comm {
 public:
  MpiComm();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void ReduceScatterSum(const float* in, float* out, size_t chunk) override;
  void AllGather(float* buf, size_t chunk) override;
  std::vector<double> AllGatherDouble(double value) override;
  std::vector<uint64_t> AllGatherU64(uint64_t value) override;

 private:
  int rank_ = 0, size_ = 1;
  HugeVector<float> inbox_;  // every rank's contribution to our chunk
};

}  // namespace bulwark::train
