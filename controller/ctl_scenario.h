// `bulwarkctl scenario run FILE`: runs a fault-injection scenario (controller/scenario.h)
// on a fresh local cluster — an uninterrupted reference run first when the digest is to be
// compared, then the job with its faults injected on cue — judges it, prints a table per
// fault and writes the result as JSON.
#pragma once

#include <string>

namespace bulwark::ctl {

struct ScenarioRunOptions {
  std::string dir;       // the local cluster's directory ("" a new one under /tmp)
  std::string out;       // where the JSON result goes ("" only printed)
  bool keep = false;     // leave the cluster up afterwards
  std::string bin_dir;   // where bulwarkctl, bulwark-train and bulwark-mpirun are
};

// 0 every expectation met, 1 some not, 2 a bad scenario file, 3 the cluster did not start.
int ScenarioRun(const std::string& file, const ScenarioRunOptions& options);

}  // namespace bulwark::ctl
