// bulwark-gpu-check: the GPU and NCCL self-checks, run by the agent as a child process.
//   bulwark-gpu-check gpu|nccl [--expect-gpus N] [--cuda-library PATH] [--nccl-library PATH]
// gpu:  every device is there and its memory round trip is right: a pattern copied in, part
//       of it overwritten on the device (cuMemsetD32), copied back and compared; the
//       host-to-device rate is measured.
// nccl: one communicator over all local devices (ncclCommInitAll); an allreduce whose every
//       element has a known sum, computed by NCCL's kernels on the GPUs, compared on the host.
// The driver and NCCL are loaded with dlopen, so the program runs (and reports "no driver")
// on nodes without them; the headers give the ABI. Prints one CheckReport JSON line.
#include <cuda.h>
#include <dlfcn.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "diagnostics/gpu_check.h"
#include "diagnostics/mpi_check.h"

namespace {

using bulwark::diagnostics::CheckReport;

// cuda.h maps names to their current versions (cuMemAlloc -> cuMemAlloc_v2); STRINGIFY
// expands first, so dlsym asks for the versioned symbol the header declared.
#define BULWARK_STRINGIFY2(x) #x
#define BULWARK_STRINGIFY(x) BULWARK_STRINGIFY2(x)

#define BULWARK_CUDA_FUNCTIONS(X)                                                                       \
  X(cuInit) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetName) X(cuDevicePrimaryCtxRetain)           \
  X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuMemAlloc) X(cuMemFree) X(cuMemcpyHtoD)            \
  X(cuMemcpyDtoH) X(cuMemsetD32) X(cuStreamCreate) X(cuStreamSynchronize) X(cuStreamDestroy)             \
  X(cuGetErrorString)

#define BULWARK_NCCL_FUNCTIONS(X) \
  X(ncclGetVersion) X(ncclCommInitAll) X(ncclCommDestroy) X(ncclAllReduce) X(ncclGroupStart) X(ncclGroupEnd) X(ncclGetErrorString)

#define BULWARK_FIELD(name) decltype(&::name) name = nullptr;
#define BULWARK_LOAD(name)                                                                   \
  name = reinterpret_cast<decltype(name)>(::dlsym(handle, BULWARK_STRINGIFY(name)));        \
  if (!name) return std::string(BULWARK_STRINGIFY(name)) + " missing from " + path;

struct Cuda {
  BULWARK_CUDA_FUNCTIONS(BULWARK_FIELD)
  // "" when loaded, else why not.
  std::string Load(const std::string& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return "the CUDA driver cannot be loaded (" + std::string(::dlerror()) + ")";
    BULWARK_CUDA_FUNCTIONS(BULWARK_LOAD)
    return "";
  }
  std::string Error(CUresult r) const {
    const char* text = nullptr;
    cuGetErrorString(r, &text);
    return "CUDA error " + std::to_string(static_cast<int>(r)) + (text ? std::string(" (") + text + ")" : "");
  }
};

struct Nccl {
  BULWARK_NCCL_FUNCTIONS(BULWARK_FIELD)
  std::string Load(const std::string& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return "NCCL cannot be loaded (" + std::string(::dlerror()) + ")";
    BULWARK_NCCL_FUNCTIONS(BULWARK_LOAD)
    return "";
  }
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// One device's memory round trip; the device's primary context is current.
bulwark::diagnostics::GpuDeviceResult CheckDevice(const Cuda& cuda, int index) {
  bulwark::diagnostics::GpuDeviceResult d;
  d.index = index;
  CUdevice device = 0;
  char name[128] = "?";
  CUresult r = cuda.cuDeviceGet(&device, index);
  if (r == CUDA_SUCCESS) r = cuda.cuDeviceGetName(name, sizeof(name), device);
  d.name = name;
  CUcontext context = nullptr;
  if (r == CUDA_SUCCESS) r = cuda.cuDevicePrimaryCtxRetain(&context, device);
  if (r != CUDA_SUCCESS) return d.error = cuda.Error(r), d;
  cuda.cuCtxSetCurrent(context);
  const size_t words = size_t{16} << 20, bytes = words * 4, overwritten = words / 16;
  std::vector<uint32_t> host(words), back(words);
  for (size_t i = 0; i < words; ++i) host[i] = static_cast<uint32_t>(i * 2654435761u);
  CUdeviceptr buffer = 0;
  r = cuda.cuMemAlloc(&buffer, bytes);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) {  // a job holds the memory: present, not checked
    cuda.cuDevicePrimaryCtxRelease(device);
    d.busy = true;
    return d;
  }
  double best = 0;
  for (int round = 0; round < 3 && r == CUDA_SUCCESS; ++round) {
    const auto start = std::chrono::steady_clock::now();
    r = cuda.cuMemcpyHtoD(buffer, host.data(), bytes);
    const double s = Seconds(start);
    if (s > 0 && bytes / s / 1e9 > best) best = bytes / s / 1e9;
  }
  if (r == CUDA_SUCCESS) r = cuda.cuMemsetD32(buffer, 0xA5A5A5A5u, overwritten);
  if (r == CUDA_SUCCESS) r = cuda.cuMemcpyDtoH(back.data(), buffer, bytes);
  if (buffer) cuda.cuMemFree(buffer);
  cuda.cuDevicePrimaryCtxRelease(device);
  if (r != CUDA_SUCCESS) return d.error = cuda.Error(r), d;
  for (size_t i = 0; i < words; ++i) {
    const uint32_t want = i < overwritten ? 0xA5A5A5A5u : host[i];
    if (back[i] != want) {
      char text[128];
      std::snprintf(text, sizeof(text), "memory came back wrong at byte %zu: 0x%08x, not 0x%08x", i * 4, back[i], want);
      return d.error = text, d;
    }
  }
  d.ok = true;
  d.h2d_gbps = best;
  return d;
}

CheckReport GpuCheck(const Cuda& cuda, int count, int expected) {
  std::vector<bulwark::diagnostics::GpuDeviceResult> devices;
  for (int i = 0; i < count; ++i) devices.push_back(CheckDevice(cuda, i));
  return bulwark::diagnostics::JudgeGpus(expected, devices);
}

CheckReport Fail(const std::string& detail) {
  CheckReport r;
  r.detail = detail;
  return r;
}

CheckReport NcclCheck(const Cuda& cuda, const Nccl& nccl, int count) {
  int version = 0;
  nccl.ncclGetVersion(&version);
  std::vector<ncclComm_t> comms(count);
  std::vector<int> list(count);
  for (int i = 0; i < count; ++i) list[i] = i;
  ncclResult_t n = nccl.ncclCommInitAll(comms.data(), count, list.data());
  if (n != ncclSuccess) return Fail(std::string("ncclCommInitAll failed: ") + nccl.ncclGetErrorString(n));

  const size_t elements = size_t{1} << 20;  // 4 MiB of floats per GPU
  struct PerDevice {
    CUdevice device = 0;
    CUcontext context = nullptr;
    CUstream stream = nullptr;
    CUdeviceptr send = 0, recv = 0;
  };
  std::vector<PerDevice> per(count);
  std::string failed, busy;
  std::vector<float> host(elements);
  for (int i = 0; i < count && failed.empty(); ++i) {
    CUresult r = cuda.cuDeviceGet(&per[i].device, i);
    if (r == CUDA_SUCCESS) r = cuda.cuDevicePrimaryCtxRetain(&per[i].context, per[i].device);
    if (r == CUDA_SUCCESS) r = cuda.cuCtxSetCurrent(per[i].context);
    if (r == CUDA_SUCCESS) r = cuda.cuStreamCreate(&per[i].stream, CU_STREAM_NON_BLOCKING);
    if (r == CUDA_SUCCESS) r = cuda.cuMemAlloc(&per[i].send, elements * sizeof(float));
    if (r == CUDA_SUCCESS) r = cuda.cuMemAlloc(&per[i].recv, elements * sizeof(float));
    for (size_t e = 0; e < elements; ++e) host[e] = static_cast<float>(bulwark::diagnostics::MpiCheckInput(i, e));
    if (r == CUDA_SUCCESS) r = cuda.cuMemcpyHtoD(per[i].send, host.data(), elements * sizeof(float));
    if (r == CUDA_ERROR_OUT_OF_MEMORY) busy = "skipped: GPU " + std::to_string(i) + " is busy (a job holds its memory)";
    if (r != CUDA_SUCCESS) failed = "GPU " + std::to_string(i) + ": " + cuda.Error(r);
  }
  double seconds = 0;
  for (int round = 0; round < 2 && failed.empty(); ++round) {  // the first warms up
    const auto start = std::chrono::steady_clock::now();
    nccl.ncclGroupStart();
    for (int i = 0; i < count; ++i) {
      cuda.cuCtxSetCurrent(per[i].context);
      n = nccl.ncclAllReduce(reinterpret_cast<void*>(per[i].send), reinterpret_cast<void*>(per[i].recv), elements,
                             ncclFloat, ncclSum, comms[i], reinterpret_cast<cudaStream_t>(per[i].stream));
      if (n != ncclSuccess) failed = std::string("ncclAllReduce failed: ") + nccl.ncclGetErrorString(n);
    }
    n = nccl.ncclGroupEnd();
    if (n != ncclSuccess && failed.empty()) failed = std::string("ncclGroupEnd failed: ") + nccl.ncclGetErrorString(n);
    for (int i = 0; i < count && failed.empty(); ++i) {
      cuda.cuCtxSetCurrent(per[i].context);
      const CUresult r = cuda.cuStreamSynchronize(per[i].stream);
      if (r != CUDA_SUCCESS) failed = "GPU " + std::to_string(i) + " did not finish the allreduce: " + cuda.Error(r);
    }
    seconds = Seconds(start);
  }
  for (int i = 0; i < count && failed.empty(); ++i) {
    cuda.cuCtxSetCurrent(per[i].context);
    const CUresult r = cuda.cuMemcpyDtoH(host.data(), per[i].recv, elements * sizeof(float));
    if (r != CUDA_SUCCESS) failed = "GPU " + std::to_string(i) + ": " + cuda.Error(r);
    for (size_t e = 0; e < elements && failed.empty(); ++e) {
      const float want = static_cast<float>(bulwark::diagnostics::MpiCheckExpectedSum(count, e));
      if (host[e] != want) {
        failed = "allreduce returned WRONG sums on GPU " + std::to_string(i) + " at element " + std::to_string(e) + ": " +
                 std::to_string(host[e]) + ", not " + std::to_string(want);
      }
    }
  }
  for (int i = 0; i < count; ++i) {
    if (per[i].context) cuda.cuCtxSetCurrent(per[i].context);
    if (per[i].send) cuda.cuMemFree(per[i].send);
    if (per[i].recv) cuda.cuMemFree(per[i].recv);
    if (per[i].stream) cuda.cuStreamDestroy(per[i].stream);
    if (per[i].context) cuda.cuDevicePrimaryCtxRelease(per[i].device);
    nccl.ncclCommDestroy(comms[i]);
  }
  if (!busy.empty()) {
    CheckReport skipped;
    skipped.ok = skipped.skipped = true;
    skipped.detail = busy;
    return skipped;
  }
  if (!failed.empty()) return Fail(failed);
  CheckReport ok;
  ok.ok = true;
  const double gbps = seconds > 0 ? elements * sizeof(float) / seconds / 1e9 : 0;
  char text[192];
  std::snprintf(text, sizeof(text), "NCCL %d.%d.%d over %d GPU%s: allreduce of 4 MiB in %.0f us (%.1f GB/s), sums correct",
                version / 10000, version / 100 % 100, version % 100, count, count == 1 ? "" : "s", seconds * 1e6, gbps);
  ok.detail = text;
  ok.value = gbps;
  ok.unit = "GB/s";
  return ok;
}

int Print(const CheckReport& r) {
  std::printf("%s\n", bulwark::diagnostics::ToJsonLine(r).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "gpu") != 0 && std::strcmp(argv[1], "nccl") != 0)) {
    std::fprintf(stderr, "usage: bulwark-gpu-check gpu|nccl [--expect-gpus N] [--cuda-library PATH] [--nccl-library PATH]\n");
    return 2;
  }
  const std::string which = argv[1];
  int expected = 0;
  std::string cuda_path = "libcuda.so.1", nccl_path = "libnccl.so.2";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--expect-gpus") expected = std::atoi(argv[i + 1]);
    else if (flag == "--cuda-library") cuda_path = argv[i + 1];
    else if (flag == "--nccl-library") nccl_path = argv[i + 1];
    else return std::fprintf(stderr, "bulwark-gpu-check: unknown option %s\n", flag.c_str()), 2;
  }
  Cuda cuda;
  if (const std::string why = cuda.Load(cuda_path); !why.empty()) return Print(bulwark::diagnostics::NoDriver(expected, why));
  int count = 0;
  CUresult r = cuda.cuInit(0);
  if (r == CUDA_ERROR_NO_DEVICE) return Print(bulwark::diagnostics::NoDriver(expected, "the driver finds no device"));
  if (r == CUDA_SUCCESS) r = cuda.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS) return Print(Fail("the CUDA driver does not initialise: " + cuda.Error(r)));
  if (which == "gpu") return Print(GpuCheck(cuda, count, expected));
  if (count == 0) return Print(bulwark::diagnostics::NoDriver(expected, "the driver finds no device"));
  Nccl nccl;
  if (const std::string why = nccl.Load(nccl_path); !why.empty()) {
    CheckReport skipped;
    skipped.ok = skipped.skipped = true;
    skipped.detail = "skipped: " + why;
    return Print(skipped);
  }
  return Print(NcclCheck(cuda, nccl, count));
}
