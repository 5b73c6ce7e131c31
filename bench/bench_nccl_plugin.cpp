// Cost of libnccl-profiler-bulwark.so per NCCL callback, driven through its ABI as NCCL does
// (collective start and stop, two kernel channels each started, stopped by state and by
// stop: 8 callbacks per collective), with a real ring intake draining. Baseline in the same
// run: the same calls to the plugin loaded with no agent, where it asks NCCL for no events
// and each callback returns at once.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "plugins/nccl/nccl_profiler_abi.h"
#include "tests/support/ring_collector.h"

namespace {

using namespace bulwark::nccl;

// Median ns per callback over `rounds` rounds of `calls` collectives.
double NsPerCallback(ProfilerV5* p, void* ctx, int rounds, int calls) {
  std::vector<double> per_round;
  uint64_t seq = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
      EventDescrV5 d{};
      d.type = kColl;
      d.coll.seq_number = seq++;
      d.coll.func = "AllReduce";
      d.coll.count = 1 << 20;
      d.coll.datatype = "ncclBfloat16";
      d.coll.n_channels = 2;
      void* coll = nullptr;
      p->start_event(ctx, &coll, &d);
      p->stop_event(coll);
      for (int c = 0; c < 2; ++c) {
        EventDescrV5 k{};
        k.type = kKernelCh;
        k.parent_obj = coll;
        void* kernel = nullptr;
        p->start_event(ctx, &kernel, &k);
        p->record_event_state(kernel, kKernelChStop, nullptr);
        p->stop_event(kernel);
      }
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    per_round.push_back(ns / (calls * 8.0));
  }
  std::sort(per_round.begin(), per_round.end());
  return per_round[per_round.size() / 2];
}

double Measure(const std::string& socket, bool* recording) {
  setenv("BULWARK_AGENT_SOCKET", socket.c_str(), 1);
  void* lib = dlopen(BULWARK_NCCL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "%s\n", dlerror());
    std::exit(1);
  }
  auto* p = static_cast<ProfilerV5*>(dlsym(lib, "ncclProfiler_v5"));
  void* ctx = nullptr;
  int mask = 0;
  p->init(&ctx, 0x5eed, &mask, "bench", 1, 8, 0, nullptr);
  *recording = mask != 0;
  const double ns = NsPerCallback(p, ctx, 21, 2000);
  p->finalize(ctx);
  dlclose(lib);
  return ns;
}

}  // namespace

int main() {
  bool recording = false, baseline_recording = true;
  double hooked = 0;
  {
    bulwark::testing::IntakeThread intake("@bw-bench-nccl-" + std::to_string(getpid()));
    hooked = Measure(intake.path(), &recording);
  }
  const double baseline = Measure("@bw-bench-nccl-nobody-" + std::to_string(getpid()), &baseline_recording);
  if (!recording || baseline_recording) {
    std::fprintf(stderr, "the runs did not record as intended\n");
    return 1;
  }
  std::printf("{\"bench\":\"nccl_plugin\",\"ns_per_callback\":%.1f,\"ns_per_collective\":%.1f,"
              "\"baseline_ns_per_callback_no_agent\":%.1f,\"ratio_vs_no_agent\":%.2f}\n",
              hooked, hooked * 8, baseline, hooked / baseline);
  return 0;
}
