// Overhead of libbulwark-pmpi.so on MPI_Allreduce (2 ranks; 8 B and 1 MiB): the same
// latency program run under mpirun with and without the hook, alternating A/B rounds, with a
// real ring intake draining the rings as the agent would. Reports the ratio hooked/unhooked
// of the median latencies (goals: <= 1.05 at 8 B, <= 1.01 at 1 MiB), and the hook's own
// cost per call, measured on one rank where the collective itself is a ~10 ns copy.
//   bench_pmpi [--rounds N]
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agent/ring_intake.h"

namespace {

struct Drain : bulwark::agent::IntakeSink {
  void OnEvents(const bulwark::agent::RingOrigin&, const bulwark::ring::Event*, size_t n) override { events += n; }
  uint64_t events = 0;
};

nlohmann::json RunOnce(int ranks, const std::string& program, const std::string& preload, const std::string& socket) {
  std::string command = std::string(BULWARK_MPIRUN) + " -np " + std::to_string(ranks);
  if (!preload.empty()) command += " -x LD_PRELOAD=" + preload + " -x BULWARK_AGENT_SOCKET=" + socket;
  command += " " + program;
  FILE* out = popen(command.c_str(), "r");
  std::string text;
  char buf[512];
  while (out && fgets(buf, sizeof(buf), out)) text += buf;
  if (!out || pclose(out) != 0) return nullptr;
  return nlohmann::json::parse(text.substr(text.rfind('{')), nullptr, false);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
  const std::string socket = "/tmp/bw-bench-pmpi-" + std::to_string(getpid()) + ".sock";
  auto intake = bulwark::agent::RingIntake::Listen(socket);
  if (!intake.ok()) {
    std::fprintf(stderr, "%s\n", intake.status().message().c_str());
    return 1;
  }
  Drain drain;
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop) (*intake)->Poll(10, &drain);
  });
  std::vector<double> plain8, hooked8, plain1m, hooked1m, solo_plain, solo_hooked;
  for (int r = 0; r < rounds; ++r) {
    const auto a = RunOnce(2, BULWARK_LATENCY_BIN, "", socket);
    const auto b = RunOnce(2, BULWARK_LATENCY_BIN, BULWARK_PMPI_LIB, socket);
    // One rank: the call itself is a ~10 ns copy, so the difference is the hook's own cost.
    const auto c = RunOnce(1, BULWARK_LATENCY_BIN, "", socket);
    const auto d = RunOnce(1, BULWARK_LATENCY_BIN, BULWARK_PMPI_LIB, socket);
    if (a.is_null() || b.is_null() || c.is_null() || d.is_null() || a.is_discarded() || b.is_discarded()) {
      std::fprintf(stderr, "a latency run failed\n");
      stop = true;
      poller.join();
      return 1;
    }
    plain8.push_back(a["allreduce_8B_us"]);
    hooked8.push_back(b["allreduce_8B_us"]);
    plain1m.push_back(a["allreduce_1MiB_us"]);
    hooked1m.push_back(b["allreduce_1MiB_us"]);
    solo_plain.push_back(c["allreduce_8B_us"]);
    solo_hooked.push_back(d["allreduce_8B_us"]);
  }
  stop = true;
  poller.join();
  const double r8 = Median(hooked8) / Median(plain8), r1m = Median(hooked1m) / Median(plain1m);
  nlohmann::json out = {{"bench", "pmpi"},
                        {"ranks", 2},
                        {"rounds", rounds},
                        {"allreduce_8B_us", {{"unhooked", Median(plain8)}, {"hooked", Median(hooked8)}}},
                        {"allreduce_1MiB_us", {{"unhooked", Median(plain1m)}, {"hooked", Median(hooked1m)}}},
                        {"ratio_8B", r8},
                        {"ratio_1MiB", r1m},
                        {"goal_8B", 1.05},
                        {"goal_1MiB", 1.01},
                        {"hook_cost_ns_per_call", 1000 * (Median(solo_hooked) - Median(solo_plain))},
                        {"records_seen_by_intake", drain.events}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
