// A CUDA driver that runs on the CPU, for testing bulwark-gpu-check without a GPU: the
// functions the check calls, with the driver's ABI (cuda.h, versioned symbol names), over
// host memory. Device pointers are host addresses, which the fake NCCL relies on.
// Faults by environment: FAKE_CUDA_DEVICES=N (default 2), FAKE_CUDA_INIT_ERROR=code,
// FAKE_CUDA_BAD_DEVICE=i (its device-to-host copies flip a bit), FAKE_CUDA_HANG=1 (copies
// never return: a GPU that hangs the driver), FAKE_CUDA_FULL=1 (no memory free: a job holds it).
#include <cuda.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

thread_local int current_device = 0;

}  // namespace

extern "C" {

CUresult cuInit(unsigned int) { return static_cast<CUresult>(EnvInt("FAKE_CUDA_INIT_ERROR", 0)); }

CUresult cuDeviceGetCount(int* count) {
  *count = EnvInt("FAKE_CUDA_DEVICES", 2);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  if (ordinal < 0 || ordinal >= EnvInt("FAKE_CUDA_DEVICES", 2)) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::strncpy(name, "Fake GPU", len);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
  *context = reinterpret_cast<CUcontext>(static_cast<intptr_t>(device) + 1);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }

CUresult cuCtxSetCurrent(CUcontext context) {
  current_device = static_cast<int>(reinterpret_cast<intptr_t>(context)) - 1;
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr* pointer, size_t bytes) {
  if (EnvInt("FAKE_CUDA_FULL", 0)) return CUDA_ERROR_OUT_OF_MEMORY;
  void* p = std::malloc(bytes);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *pointer = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

CUresult cuMemFree(CUdeviceptr pointer) {
  std::free(reinterpret_cast<void*>(pointer));
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD(CUdeviceptr to, const void* from, size_t bytes) {
  while (EnvInt("FAKE_CUDA_HANG", 0)) ::pause();
  std::memcpy(reinterpret_cast<void*>(to), from, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH(void* to, CUdeviceptr from, size_t bytes) {
  std::memcpy(to, reinterpret_cast<const void*>(from), bytes);
  if (bytes > 0 && current_device == EnvInt("FAKE_CUDA_BAD_DEVICE", -1)) static_cast<unsigned char*>(to)[bytes / 2] ^= 0x10;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32(CUdeviceptr to, unsigned int value, size_t words) {
  auto* p = reinterpret_cast<unsigned int*>(to);
  for (size_t i = 0; i < words; ++i) p[i] = value;
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream* stream, unsigned int) {
  *stream = reinterpret_cast<CUstream>(static_cast<intptr_t>(current_device) + 1);
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }
CUresult cuStreamDestroy(CUstream) { return CUDA_SUCCESS; }

CUresult cuGetErrorString(CUresult error, const char** text) {
  *text = error == CUDA_ERROR_NO_DEVICE ? "no CUDA-capable device is detected" : "fake driver error";
  return CUDA_SUCCESS;
}

}  // extern "C"
