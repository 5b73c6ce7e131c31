// The GPU and NCCL self-checks' pure parts. The checks themselves run in a child process
// (bulwark-gpu-check, built only where the CUDA and NCCL headers are found), so the agent
// never holds a CUDA context and a GPU that hangs the driver costs a timeout, not the
// agent. The program prints one JSON line, a CheckReport, which the agent reads back.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::diagnostics {

// A finished check, as a child program reports it.
struct CheckReport {
  bool ok = false;
  bool skipped = false;  // nothing to check here (no GPU expected and no driver): not a fault
  std::string detail;
  double value = 0;  // a rate compared against the admission baseline, with its unit
  std::string unit;
};

std::string ToJsonLine(const CheckReport& r);
// The last line of `output` that is a JSON object; an error quoting the output's tail if none.
Result<CheckReport> ParseCheckReport(const std::string& output);

struct GpuDeviceResult {
  int index = 0;
  std::string name;
  bool ok = false;
  bool busy = false;    // no memory free to test with (a job holds it): not checked, not failed
  double h2d_gbps = 0;  // host-to-device copy rate
  std::string error;    // what failed on it: a driver call, or data that came back wrong
};

// The gpu_memory verdict: every device the node should have is there (`expected` from
// discovery or config; a GPU that fell off the bus is missing here), and each one's memory
// round trip came back right. A busy GPU (a job holds its memory) is present but not
// checked: a straggler's node is checked while its job still runs, and that must not fail
// it. The value is the slowest checked device's copy rate.
CheckReport JudgeGpus(int expected, const std::vector<GpuDeviceResult>& devices);

// When the driver cannot be loaded or initialised: not a fault on a node with no GPUs,
// a failure on one that should have some.
CheckReport NoDriver(int expected, const std::string& why);

}  // namespace bulwark::diagnostics
