// bench_trainer: throughput of the reference trainer, run under mpirun (2 ranks by default).
//   scripts/mpirun -np 2 build/bench/bench_trainer [config.yaml ...]
// For each config: median step time and tokens/s over the whole job. Baselines measured in
// the same process: the trainer's own matmul kernel at the model's widest layer shape (so
// "efficiency_vs_matmul" says how much of the kernel's speed a whole step keeps), and a
// textbook triple-loop matmul (so "kernel_speedup_vs_naive" says what the kernels buy).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/kernels.h"
#include "trainer/trainer.h"

namespace {

using namespace bulwark::train;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median GFLOP/s of MatmulForward + MatmulBackward at [N × C] · [OC × C]ᵀ.
double KernelGflops(int N, int C, int OC, int repeats) {
  std::vector<float> in((size_t)N * C, 0.01f), w((size_t)OC * C, 0.02f), out((size_t)N * OC), din(in.size()),
      dw(w.size());
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    kernels::MatmulForward(out.data(), in.data(), w.data(), nullptr, N, C, OC);
    kernels::MatmulBackward(din.data(), dw.data(), nullptr, out.data(), in.data(), w.data(), N, C, OC);
    rates.push_back(6.0 * N * C * OC / Seconds(start) / 1e9);
  }
  return Median(rates);
}

// The baseline every numerical-code tutorial starts from: one dot product per output.
double NaiveGflops(int N, int C, int OC, int repeats) {
  std::vector<float> in((size_t)N * C, 0.01f), w((size_t)OC * C, 0.02f), out((size_t)N * OC);
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < OC; ++o) {
        float s = 0;
        for (int c = 0; c < C; ++c) s += in[(size_t)n * C + c] * w[(size_t)o * C + c];
        out[(size_t)n * OC + o] = s;
      }
    rates.push_back(2.0 * N * C * OC / Seconds(start) / 1e9);
  }
  volatile float sink = out[0];
  (void)sink;
  return Median(rates);
}

json BenchConfig(const std::string& path, MpiComm& comm) {
  auto config = LoadTrainConfigFile(path);
  if (!config.ok()) {
    if (comm.rank() == 0) std::fprintf(stderr, "bench_trainer: %s\n", config.status().message().c_str());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const TrainConfig& c = config.value();
  auto start = Clock::now();
  auto trainer = Trainer::Create(c, comm);
  const double setup_s = Seconds(start);
  // Small models: many steps; the 100M model takes seconds a step, so a few.
  const double flops = trainer.value()->FlopsPerStep();
  const int measured = flops > 1e11 ? 3 : 20, warmup = flops > 1e11 ? 1 : 3;
  std::vector<double> step_ms;
  for (int i = 0; i < warmup + measured; ++i) {
    StepReport r = trainer.value()->Step();
    if (i >= warmup) step_ms.push_back(r.step_ms);
  }
  const double median_ms = Median(step_ms);
  const double tokens_per_step = static_cast<double>(c.micro_batch) * c.model.seq_len * comm.size();
  const double model_gflops = flops / (median_ms / 1000.0) / 1e9;  // per rank
  MPI_Barrier(MPI_COMM_WORLD);
  const int N = c.micro_batch * c.model.seq_len, C = c.model.d_model;
  const double matmul_gflops = comm.rank() == 0 ? KernelGflops(N, C, 4 * C, 5) : 0;
  MPI_Barrier(MPI_COMM_WORLD);
  return {{"config", path.substr(path.find_last_of('/') + 1)},
          {"parameters", trainer.value()->parameter_count()},
          {"setup_s", setup_s},
          {"steps_measured", measured},
          {"tokens_per_step", tokens_per_step},
          {"median_step_ms", median_ms},
          {"tokens_per_s", tokens_per_step / (median_ms / 1000.0)},
          {"model_gflops_per_rank", model_gflops},
          {"matmul_gflops", matmul_gflops},
          {"efficiency_vs_matmul", matmul_gflops > 0 ? model_gflops / matmul_gflops : 0}};
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  {
    MpiComm comm;
    std::vector<std::string> configs;
    for (int i = 1; i < argc; ++i) configs.push_back(argv[i]);
    if (configs.empty()) {
      configs = {std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/small.yaml",
                 std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/gpt100m.yaml"};
    }
    json results = json::array();
    for (const auto& path : configs) {
      json r = BenchConfig(path, comm);
      if (comm.rank() == 0) std::fprintf(stderr, "bench_trainer: %s\n", r.dump().c_str());
      results.push_back(r);
    }
    if (comm.rank() == 0) {
      const double fast = KernelGflops(64, 768, 768, 5), naive = NaiveGflops(64, 768, 768, 3);
      json out = {{"bench", "trainer"},
                  {"world_size", comm.size()},
                  {"configs", results},
                  {"kernel_gflops_64x768x768", fast},
                  {"naive_gflops_64x768x768", naive},
                  {"kernel_speedup_vs_naive", fast / naive}};
      std::printf("%s\n", out.dump().c_str());
    }
  }
  MPI_Finalize();
  return 0;
}
