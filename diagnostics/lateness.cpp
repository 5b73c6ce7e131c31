#include "diagnostics/lateness.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace bulwark::diagnostics {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The rank with the least time inside, and how long the others waited for it (median).
struct Latest {
  int rank = -1;
  double wait_us = 0;
  double others_compute_us = 0;
};

Latest FindLatest(const CollectiveTiming& t) {
  Latest out;
  const size_t n = t.in_call_us.size();
  if (n < 2) return out;
  out.rank = static_cast<int>(std::min_element(t.in_call_us.begin(), t.in_call_us.end()) - t.in_call_us.begin());
  std::vector<double> waits, compute;
  for (size_t r = 0; r < n; ++r) {
    if (static_cast<int>(r) == out.rank) continue;
    waits.push_back(t.in_call_us[r] - t.in_call_us[static_cast<size_t>(out.rank)]);
    if (r < t.compute_us.size()) compute.push_back(t.compute_us[r]);
  }
  out.wait_us = Median(waits);
  out.others_compute_us = Median(compute);
  return out;
}

}  // namespace

void LatenessDetector::Add(CollectiveTiming timing) {
  if (timing.in_call_us.size() != ranks_) {
    window_.clear();
    ranks_ = timing.in_call_us.size();
  }
  const Latest l = FindLatest(timing);
  if (l.rank < 0 || l.others_compute_us <= 0) return;
  if (l.wait_us < options_.min_wait_fraction * l.others_compute_us || l.wait_us < options_.min_wait_us) return;
  window_.push_back(std::move(timing));
  while (window_.size() > options_.window) window_.pop_front();
}

LatenessAssessment LatenessDetector::Assess() const {
  LatenessAssessment a;
  if (window_.size() < options_.min_collectives) return a;
  std::map<int, std::vector<const CollectiveTiming*>> latest_in;
  std::vector<double> wait_fractions;
  for (const auto& t : window_) {
    const Latest l = FindLatest(t);
    latest_in[l.rank].push_back(&t);
    wait_fractions.push_back(l.wait_us / l.others_compute_us);
    ++a.significant;
  }
  if (a.significant < options_.min_collectives) return a;
  a.median_wait_fraction = Median(wait_fractions);
  const auto top = std::max_element(latest_in.begin(), latest_in.end(),
                                    [](const auto& x, const auto& y) { return x.second.size() < y.second.size(); });
  a.share = static_cast<double>(top->second.size()) / static_cast<double>(a.significant);
  if (a.share < options_.min_share) {
    a.kind = LatenessKind::kImbalance;
    a.evidence = "the latest rank changed between collectives (" + std::to_string(latest_in.size()) + " ranks were latest in " +
                 std::to_string(a.significant) + " collectives; the most, rank " + std::to_string(top->first) + ", in " +
                 std::to_string(top->second.size()) + "): imbalance, not a faulty node";
    return a;
  }
  a.kind = LatenessKind::kStraggler;
  a.rank = top->first;
  std::vector<double> ratios;
  for (const CollectiveTiming* t : top->second) {
    std::vector<double> others;
    for (size_t r = 0; r < t->compute_us.size(); ++r) {
      if (static_cast<int>(r) != a.rank) others.push_back(t->compute_us[r]);
    }
    const double base = Median(others);
    if (base > 0 && static_cast<size_t>(a.rank) < t->compute_us.size()) ratios.push_back(t->compute_us[static_cast<size_t>(a.rank)] / base);
    if (a.evidence_seqs.size() < 10) a.evidence_seqs.push_back(t->seq);
  }
  a.slowdown_percent = (Median(ratios) - 1.0) * 100.0;
  char text[256];
  std::snprintf(text, sizeof(text), "rank %d was the last to arrive in %zu of %zu collectives; its compute took %.0f%% longer than the others' median",
                a.rank, top->second.size(), a.significant, a.slowdown_percent);
  a.evidence = text;
  return a;
}

}  // namespace bulwark::diagnostics
