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
  if (l.rank < 0 || l.others_compute_us < options_.min_compute_us) return;
  window_.push_back(std::move(timing));
  while (window_.size() > std::max(options_.window, options_.imbalance_window)) window_.pop_front();
}

LatenessDetector::Tally LatenessDetector::Count(size_t newest) const {
  Tally t;
  for (size_t i = window_.size() - std::min(newest, window_.size()); i < window_.size(); ++i) {
    const CollectiveTiming& c = window_[i];
    const Latest l = FindLatest(c);
    ++t.collectives;
    t.waited_us += l.wait_us;
    t.compute_us += l.others_compute_us;
    if (l.wait_us < options_.min_wait_us || l.wait_us < options_.min_wait_fraction * l.others_compute_us) continue;
    t.late_in[l.rank].push_back(&c);
    ++t.significant;
  }
  return t;
}

LatenessAssessment LatenessDetector::Assess() const {
  LatenessAssessment a = AssessStraggler();
  if (a.kind == LatenessKind::kStraggler) return a;
  // Not one rank persistently late: what lateness costs over the longer window.
  const Tally t = Count(options_.imbalance_window);
  if (t.collectives < options_.min_imbalance_collectives || t.late_in.size() < 2) return a;
  LatenessAssessment b;
  b.kind = LatenessKind::kImbalance;
  b.collectives = t.collectives;
  b.significant = t.significant;
  b.lost_fraction = t.compute_us > 0 ? t.waited_us / t.compute_us : 0;
  const auto top = std::max_element(t.late_in.begin(), t.late_in.end(),
                                    [](const auto& x, const auto& y) { return x.second.size() < y.second.size(); });
  b.share = static_cast<double>(top->second.size()) / static_cast<double>(t.collectives);
  char text[256];
  std::snprintf(text, sizeof(text),
                "%zu ranks were significantly late in %zu of %zu collectives (the most, rank %d, in %zu); the others "
                "lost %.0f%% of their compute time waiting: imbalance, not a faulty node",
                t.late_in.size(), t.significant, t.collectives, top->first, top->second.size(), b.lost_fraction * 100);
  b.evidence = text;
  return b;
}

LatenessAssessment LatenessDetector::AssessStraggler() const {
  LatenessAssessment a;
  const Tally t = Count(options_.window);
  a.collectives = t.collectives;
  a.significant = t.significant;
  a.lost_fraction = t.compute_us > 0 ? t.waited_us / t.compute_us : 0;
  if (t.collectives < options_.min_collectives || t.significant == 0) return a;
  const auto top = std::max_element(t.late_in.begin(), t.late_in.end(),
                                    [](const auto& x, const auto& y) { return x.second.size() < y.second.size(); });
  a.share = static_cast<double>(top->second.size()) / static_cast<double>(t.collectives);
  if (a.share < options_.min_share) return a;
  a.kind = LatenessKind::kStraggler;
  a.rank = top->first;
  // Its compute over the others' median in the collectives it was late in, as it is in at
  // least three quarters of them: a rank slow only now and then (data jitter that happens
  // to land on it a few times running) is not a straggler.
  std::vector<double> ratios;
  const size_t rank = static_cast<size_t>(a.rank);
  for (const CollectiveTiming* c : top->second) {
    std::vector<double> others;
    for (size_t r = 0; r < c->compute_us.size(); ++r) {
      if (r != rank) others.push_back(c->compute_us[r]);
    }
    const double base = Median(others);
    if (base > 0 && rank < c->compute_us.size()) ratios.push_back(c->compute_us[rank] / base);
    if (a.evidence_seqs.size() < 10) a.evidence_seqs.push_back(c->seq);
  }
  std::sort(ratios.begin(), ratios.end());
  a.slowdown_percent = ratios.empty() ? 0 : (ratios[ratios.size() / 4] - 1.0) * 100.0;
  char text[256];
  std::snprintf(text, sizeof(text), "rank %d was the last to arrive in %zu of %zu collectives; in 3 of 4 its compute took %.0f%% or more longer than the others' median",
                a.rank, top->second.size(), t.collectives, a.slowdown_percent);
  a.evidence = text;
  return a;
}

}  // namespace bulwark::diagnostics
