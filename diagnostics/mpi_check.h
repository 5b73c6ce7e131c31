// The MPI self-check's pure parts: the allreduce's known answer, and reading the report
// bulwark-mpi-check prints. The program (mpi_check_main.cpp) runs a ping-pong between rank 0
// and every other rank and an allreduce whose every element has a known sum, so a node whose
// MPI path drops, corrupts or crawls fails with numbers, not just a timeout.
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"

namespace bulwark::diagnostics {

// Rank `rank`'s element `i`: small integers, so every partial sum is exact in a double and
// the result does not depend on the reduction order.
double MpiCheckInput(int rank, size_t i);
// What element `i` must hold after summing MpiCheckInput over `ranks` ranks.
double MpiCheckExpectedSum(int ranks, size_t i);

struct MpiCheckReport {
  int ranks = 0;
  double latency_us = 0;    // worst pair's one-way latency (half the median round trip), 8 B
  double mbps = 0;          // worst pair's bandwidth (median), MB/s of payload both ways
  std::string worst_peer;   // the rank (and host) with the worst bandwidth
  double allreduce_us = 0;  // median allreduce time
  bool allreduce_ok = false;
  std::string error;        // what went wrong on the MPI side, when it did
};

// The last line of `output` that is a JSON object, as bulwark-mpi-check prints it; an error
// that quotes the output's tail when there is none or it is malformed.
Result<MpiCheckReport> ParseMpiCheckReport(const std::string& output);

}  // namespace bulwark::diagnostics
