// NCCL on the CPU, for testing bulwark-gpu-check without a GPU: the calls the check makes,
// with nccl.h's ABI, over the fake driver's device pointers (host addresses). An allreduce
// inside a group runs at ncclGroupEnd over every rank's buffer. FAKE_NCCL_WRONG_SUM=1 makes
// one element of the result wrong (a GPU that miscomputes).
#include <nccl.h>

#include <cstdlib>
#include <vector>

struct ncclComm {
  int rank;
  int ranks;
};

namespace {

struct Pending {
  const float* send;
  float* recv;
  size_t count;
};
std::vector<Pending> pending;

void RunPending() {
  if (pending.empty()) return;
  std::vector<float> sum(pending[0].count, 0.0f);
  for (const auto& p : pending) {
    for (size_t i = 0; i < p.count; ++i) sum[i] += p.send[i];
  }
  if (std::getenv("FAKE_NCCL_WRONG_SUM")) sum[sum.size() / 3] += 1;
  for (const auto& p : pending) {
    for (size_t i = 0; i < p.count; ++i) p.recv[i] = sum[i];
  }
  pending.clear();
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  *version = 22803;
  return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t* comms, int ndev, const int*) {
  for (int i = 0; i < ndev; ++i) comms[i] = new ncclComm{i, ndev};
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op, ncclComm_t,
                           cudaStream_t) {
  if (type != ncclFloat || op != ncclSum) return ncclInvalidArgument;
  pending.push_back({static_cast<const float*>(send), static_cast<float*>(recv), count});
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() { return ncclSuccess; }

ncclResult_t ncclGroupEnd() {
  RunPending();
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t) { return "fake NCCL error"; }

}  // extern "C"
