// bulwark-mpi-check: the MPI self-check, an ordinary MPI program the agent launches with
// its MPI launcher over the nodes it was asked to check.
//   bulwark-mpi-check [--corrupt-rank R]
// Rank 0 runs a ping-pong with every other rank (8 B for latency, 4 MiB for bandwidth) and
// all ranks run an allreduce whose every element has a known sum (diagnostics/mpi_check.h).
// Rank 0 prints one JSON line: the worst pair's numbers and whether every rank got the
// right sums. --corrupt-rank is fault injection: that rank contributes one wrong element,
// which proves the comparison can fail.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics/mpi_check.h"

namespace {

constexpr int kTag = 7;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median round trip in seconds of `bytes` between rank 0 and `peer`; other ranks idle.
double RoundTrip(int rank, int peer, std::vector<char>& buffer, int bytes, int rounds) {
  std::vector<double> times;
  for (int i = -2; i < rounds; ++i) {  // two warm-up rounds, not counted
    const double start = MPI_Wtime();
    if (rank == 0) {
      MPI_Send(buffer.data(), bytes, MPI_BYTE, peer, kTag, MPI_COMM_WORLD);
      MPI_Recv(buffer.data(), bytes, MPI_BYTE, peer, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == peer) {
      MPI_Recv(buffer.data(), bytes, MPI_BYTE, 0, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buffer.data(), bytes, MPI_BYTE, 0, kTag, MPI_COMM_WORLD);
    }
    if (i >= 0) times.push_back(MPI_Wtime() - start);
  }
  return Median(times);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int corrupt_rank = -1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--corrupt-rank") == 0) corrupt_rank = std::atoi(argv[i + 1]);
  }
  if (size < 2) {
    if (rank == 0) std::printf("%s\n", nlohmann::json{{"ranks", size}, {"error", "needs at least 2 ranks"}}.dump().c_str());
    MPI_Finalize();
    return 2;
  }

  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  std::vector<char> hosts(static_cast<size_t>(size) * MPI_MAX_PROCESSOR_NAME);
  MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);

  const int kSmall = 8, kLarge = 4 << 20;
  std::vector<char> buffer(kLarge, 'b');
  double worst_latency_s = 0, worst_mbps = -1;
  int worst_peer = 1;
  for (int peer = 1; peer < size; ++peer) {
    const double small = RoundTrip(rank, peer, buffer, kSmall, 100);
    const double large = RoundTrip(rank, peer, buffer, kLarge, 8);
    const double mbps = 2.0 * kLarge / large / 1e6;
    worst_latency_s = std::max(worst_latency_s, small / 2);
    if (worst_mbps < 0 || mbps < worst_mbps) worst_mbps = mbps, worst_peer = peer;
  }

  const size_t n = size_t{1} << 18;  // 2 MiB of doubles
  std::vector<double> in(n), out(n);
  for (size_t i = 0; i < n; ++i) in[i] = bulwark::diagnostics::MpiCheckInput(rank, i);
  if (rank == corrupt_rank) in[n / 2] += 1;
  std::vector<double> times;
  int correct = 1;
  for (int round = 0; round < 5; ++round) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    MPI_Allreduce(in.data(), out.data(), static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    times.push_back(MPI_Wtime() - start);
    for (size_t i = 0; i < n; ++i) {
      if (out[i] != bulwark::diagnostics::MpiCheckExpectedSum(size, i)) correct = 0;
    }
  }
  int all_correct = 0;
  MPI_Allreduce(&correct, &all_correct, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);

  if (rank == 0) {
    const std::string peer_host(&hosts[static_cast<size_t>(worst_peer) * MPI_MAX_PROCESSOR_NAME]);
    const nlohmann::json report = {{"ranks", size},
                                   {"latency_us", worst_latency_s * 1e6},
                                   {"mbps", worst_mbps},
                                   {"worst_peer", "rank " + std::to_string(worst_peer) + " on " + peer_host},
                                   {"allreduce_us", Median(times) * 1e6},
                                   {"allreduce_ok", all_correct == 1}};
    std::printf("%s\n", report.dump().c_str());
  }
  MPI_Finalize();
  return 0;
}
