// Who is late, without trusting clocks across nodes. In a collective every rank waits for
// the last one to arrive, so the late rank is the one that spends the *least* time inside
// the call; each rank measures its own time inside, and its own compute time since it left
// the previous collective on the same communicator, on its own clock.
//
// One late collective is noise. Over a window of collectives:
// - the same rank latest in most of them (a change point, not a blip) is a compute
//   straggler; its slowdown is its compute time over the median of the others';
// - lateness that moves between ranks (data-dependent imbalance, a pause here and there)
//   is imbalance, never a node fault;
// - collectives where nobody waited meaningfully say nothing.
// Pure: timings in, an assessment out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
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
  size_t window = 20;             // significant collectives looked at (the newest)
  size_t min_collectives = 10;    // fewer: no verdict yet
  double min_share = 0.8;         // a straggler is latest in at least this share of them
  // A collective is significant when the others waited at least this share of their compute
  // and at least min_wait_us: back-to-back calls with microseconds of compute between them
  // wait by scheduling noise alone.
  double min_wait_fraction = 0.05;
  double min_wait_us = 1000;
};

enum class LatenessKind { kNone, kStraggler, kImbalance };

struct LatenessAssessment {
  LatenessKind kind = LatenessKind::kNone;
  int rank = -1;                  // the straggler
  double share = 0;               // of the significant collectives in which it was latest
  double slowdown_percent = 0;    // its compute time over the others' median, minus 100%
  size_t significant = 0;         // collectives in the window where someone waited
  double median_wait_fraction = 0;  // over those: the others' wait over their compute (median)
  std::vector<uint64_t> evidence_seqs;  // the collectives it was latest in (at most 10)
  std::string evidence;
};

class LatenessDetector {
 public:
  explicit LatenessDetector(LatenessOptions options = {}) : options_(options) {}
  // Timings of a collective; a rank count different from the previous ones starts over
  // (the communicator was rebuilt). Collectives where nobody waited meaningfully are not kept.
  void Add(CollectiveTiming timing);
  LatenessAssessment Assess() const;

 private:
  LatenessOptions options_;
  size_t ranks_ = 0;
  std::deque<CollectiveTiming> window_;  // significant collectives only
};

}  // namespace bulwark::diagnostics
