// Measurements a node's self-check takes of itself, each with its number, so a result can be
// compared against the node's own baseline from admission. Small and bounded: a full set
// runs in well under a second on an idle node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bulwark::diagnostics {

struct ProbeResult {
  bool ok = false;
  double value = 0;     // the measurement (unit in `unit`); 0 when it failed
  std::string unit;     // "GB/s", "us", "Gop/s"
  std::string detail;   // what was measured, or why it failed
};

// Copies `bytes` between two buffers (best of `rounds`): the memory system's bandwidth.
ProbeResult MemoryBandwidth(size_t bytes = 64 << 20, int rounds = 3);

// A known computation with a known answer (integer and floating-point): a core that
// miscomputes fails here, whatever its speed. The value is its rate.
ProbeResult CpuArithmetic();

// Streams `bytes` through a TCP connection to this machine's loopback: the kernel network
// stack's throughput.
ProbeResult LoopbackTcp(size_t bytes = 64 << 20);

// Round trip to an HTTP endpoint ("host:port", GET `path`), median of `rounds`: latency to a
// peer's agent.
ProbeResult HttpRoundTrip(const std::string& address, const std::string& path = "/healthz", int rounds = 5);

}  // namespace bulwark::diagnostics
