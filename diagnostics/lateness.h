// Who is late, without trusting clocks across nodes. In a collective every rank waits for
// the last one to arrive, so the late rank is the one that spends the *least* time inside
// the call; each rank measures its own time inside, and its own compute time since it left
// the previous collective on the same communicator, on its own clock.
//
// Only collectives with compute before them can show a compute straggler: back-to-back
// calls (a norm gathered right after a reduce) wait by scheduling noise alone, and are not
// looked at. One late collective is noise. Over a window of the newest compute-bearing
// collectives:
// - the same rank significantly late in most of them (a change point, not a blip) is a
//   compute straggler; its slowdown is its compute time over the median of the others',
//   as it is in at least three quarters of the collectives it was late in (lower quartile);
// - lateness that moves between ranks (data-dependent imbalance, a pause here and there)
//   is imbalance, never a node fault; what it costs is the share of compute time the
//   others lost waiting for the last arrival, judged over a longer window (a burst of
//   scheduling noise costs a few steps, imbalance costs every step);
// - collectives where nobody waited meaningfully say nothing.
// Pure: timings in, an assessment out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace bulwark::diagnostics {

// One collective on one communicator: per rank (index = rank in the communicator) the time
// inside the call and the compute time before it.
struct CollectiveTiming {
  uint64_t seq = 0;
  std::vector<double> in_call_us;
  std::vector<double> compute_us;
};

struct LatenessOptions {
  size_t window = 20;             // compute-bearing collectives looked at (the newest)
  size_t min_collectives = 10;    // fewer: no verdict yet
  size_t imbalance_window = 100;  // the same, for imbalance
  size_t min_imbalance_collectives = 50;
  double min_share = 0.8;         // a straggler is significantly late in this share of them
  double min_compute_us = 1000;   // less compute (the others' median) before a call: not looked at
  // A collective is significant when the others waited at least this share of their compute
  // and at least min_wait_us.
  double min_wait_fraction = 0.05;
  double min_wait_us = 1000;
};

enum class LatenessKind { kNone, kStraggler, kImbalance };

struct LatenessAssessment {
  LatenessKind kind = LatenessKind::kNone;
  int rank = -1;                  // the straggler
  double share = 0;               // of the window's collectives in which it was significantly late
  double slowdown_percent = 0;    // its compute time over the others' median, minus 100% (lower quartile)
  size_t collectives = 0;         // in the window (the imbalance window for imbalance)
  size_t significant = 0;         // of those, where the others waited meaningfully
  double lost_fraction = 0;       // the others' waiting over their compute, summed over the window
  std::vector<uint64_t> evidence_seqs;  // the collectives it was latest in (at most 10)
  std::string evidence;
};

class LatenessDetector {
 public:
  explicit LatenessDetector(LatenessOptions options = {}) : options_(options) {}
  // Timings of a collective; a rank count different from the previous ones starts over
  // (the communicator was rebuilt). Collectives without compute before them are not kept.
  void Add(CollectiveTiming timing);
  LatenessAssessment Assess() const;

 private:
  struct Tally {
    size_t collectives = 0, significant = 0;
    double waited_us = 0, compute_us = 0;
    std::map<int, std::vector<const CollectiveTiming*>> late_in;  // significantly late, by rank
  };
  Tally Count(size_t newest) const;  // over the newest collectives kept
  LatenessAssessment AssessStraggler() const;

  LatenessOptions options_;
  size_t ranks_ = 0;
  std::deque<CollectiveTiming> window_;  // compute-bearing collectives only, the longer window
};

}  // namespace bulwark::diagnostics
