// Hang analysis for one communicator at one instant, from what the agents ship per rank:
// the newest sequence number each rank began and finished, and how long it has been
// inside its current call. Pure: states in, verdict out. No clocks are compared across
// nodes: each duration is measured on its own rank's clock.
//
// Let s be the newest sequence any rank began. Ranks that have not begun s while others
// wait inside it for at least the threshold are the culprits (a rank stuck before the
// collective: crashed into a loop, stopped, or slow beyond reason). When every rank is
// inside s and has been for the threshold, no rank is missing: the communication itself
// hangs (a link, a NIC, a switch), and every rank is evidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulwark::diagnostics {

struct RankCallState {
  int rank = 0;
  std::string node;
  uint64_t begun = 0;       // newest sequence number entered (0: none yet)
  uint64_t done = 0;        // newest sequence number left
  int64_t in_call_ms = 0;   // time inside the current call (0 when not inside one)
};

enum class HangKind { kNone, kMissingRank, kCommunicationHang };

struct HangVerdict {
  HangKind kind = HangKind::kNone;
  uint64_t seq = 0;             // the collective everyone waits in
  std::vector<int> culprits;    // missing ranks; empty for a communication hang
  std::vector<int> waiting;     // ranks inside seq
  int64_t waited_ms = 0;        // the longest wait inside seq
  std::string evidence;         // one line an operator can check
};

// Whether sequence number a comes after b, modulo 2^64 (a counter may wrap).
inline bool SeqAfter(uint64_t a, uint64_t b) { return static_cast<int64_t>(a - b) > 0; }

// Sequence numbers are compared with SeqAfter.
HangVerdict AssessHang(const std::vector<RankCallState>& ranks, int64_t threshold_ms);

}  // namespace bulwark::diagnostics
