#include "diagnostics/hang.h"

#include <algorithm>

namespace bulwark::diagnostics {
namespace {

std::string List(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ",") + std::to_string(r);
  return out;
}

}  // namespace

HangVerdict AssessHang(const std::vector<RankCallState>& ranks, int64_t threshold_ms) {
  HangVerdict v;
  if (ranks.size() < 2) return v;
  uint64_t newest = ranks.front().begun;
  for (const auto& r : ranks) {
    if (SeqAfter(r.begun, newest)) newest = r.begun;
  }
  std::vector<int> missing, inside;
  std::vector<std::string> missing_nodes;
  for (const auto& r : ranks) {
    const bool in_newest = r.begun == newest && r.done != newest && r.in_call_ms > 0;
    if (in_newest) {
      inside.push_back(r.rank);
      v.waited_ms = std::max(v.waited_ms, r.in_call_ms);
    } else if (SeqAfter(newest, r.begun)) {
      missing.push_back(r.rank);
      missing_nodes.push_back(r.node);
    }
  }
  v.seq = newest;
  v.waiting = inside;
  if (inside.empty() || v.waited_ms < threshold_ms) return v;
  if (!missing.empty()) {
    v.kind = HangKind::kMissingRank;
    v.culprits = missing;
    std::string nodes;
    for (const auto& n : missing_nodes) nodes += (nodes.empty() ? "" : ",") + n;
    v.evidence = "ranks " + List(inside) + " have waited " + std::to_string(v.waited_ms) + " ms inside collective #" +
                 std::to_string(newest) + "; ranks " + List(missing) + " (" + nodes + ") never entered it";
    return v;
  }
  // Everyone inside the same call: only a hang if every one of them has waited that long.
  const bool all_inside = inside.size() == ranks.size();
  int64_t shortest = v.waited_ms;
  for (const auto& r : ranks) shortest = std::min(shortest, r.in_call_ms);
  if (all_inside && shortest >= threshold_ms) {
    v.kind = HangKind::kCommunicationHang;
    v.evidence = "all " + std::to_string(ranks.size()) + " ranks have been inside collective #" + std::to_string(newest) +
                 " for at least " + std::to_string(shortest) + " ms and none has left it";
  }
  return v;
}

}  // namespace bulwark::diagnostics
