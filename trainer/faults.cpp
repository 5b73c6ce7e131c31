#include "trainer/faults.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace bulwark::train {
namespace {

void Announce(const char* kind, int rank, int64_t step, double compute_ms = -1, double extra_ms = -1) {
  if (extra_ms >= 0) {
    std::fprintf(stderr,
                 "{\"event\":\"fault\",\"kind\":\"%s\",\"rank\":%d,\"step\":%lld,\"compute_ms\":%.3f,"
                 "\"extra_ms\":%.3f}\n",
                 kind, rank, static_cast<long long>(step), compute_ms, extra_ms);
  } else {
    std::fprintf(stderr, "{\"event\":\"fault\",\"kind\":\"%s\",\"rank\":%d,\"step\":%lld}\n", kind, rank,
                 static_cast<long long>(step));
  }
  std::fflush(stderr);
}

}  // namespace

FaultInjector::FaultInjector(std::vector<FaultPoint> points, int rank, const std::string& node) : rank_(rank) {
  for (const auto& p : points) {
    if ((p.rank == rank || p.rank == -1) && (p.node.empty() || p.node == node)) points_.push_back(p);
  }
}

void FaultInjector::BeforeStep(int64_t step) const {
  for (const auto& p : points_) {
    if (p.kind == FaultKind::kCrash && p.step == step) {
      Announce("crash", rank_, step);
      std::fflush(stdout);
      ::kill(::getpid(), SIGKILL);
    }
  }
}

void FaultInjector::BeforeCollective(int64_t step) const {
  for (const auto& p : points_) {
    if (p.kind == FaultKind::kHang && p.step == step) {
      Announce("hang", rank_, step);
      std::fflush(stdout);
      for (;;) ::pause();
    }
  }
}

double FaultInjector::PoisonFactor(int64_t batch) const {
  for (const auto& p : points_) {
    if ((p.kind == FaultKind::kNan || p.kind == FaultKind::kSpike) && p.step == batch) {
      Announce(FaultKindName(p.kind), rank_, batch);
      return p.kind == FaultKind::kNan ? std::nan("") : 50.0;
    }
  }
  return 1.0;
}

double FaultInjector::AfterCompute(int64_t step, double compute_ms) const {
  double percent = 0;
  for (const auto& p : points_)
    if (p.kind == FaultKind::kSlow && step >= p.step) percent += p.percent;
  for (const auto& p : points_) {
    // A third of the steps, picked by a hash of (step, rank): each rank late on different steps.
    const uint64_t h = (static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(rank_) * 0xC2B2AE3D27D4EB4FULL);
    if (p.kind == FaultKind::kJitter && step >= p.step && ((h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL >> 60) % 3 == 0) {
      percent += p.percent;
    }
  }
  if (percent <= 0) return 0;
  // Real arithmetic, not sleep: the rank must look like slow compute, busy on its core.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto target = std::chrono::duration<double, std::milli>(compute_ms * percent / 100.0);
  volatile double sink = 1.0;
  while (Clock::now() - start < target) {
    for (int i = 0; i < 1000; ++i) sink = sink * 1.0000001 + 1e-9;
  }
  const double extra = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  Announce("slow", rank_, step, compute_ms, extra);  // jitter fires as a slow step
  return extra;
}

}  // namespace bulwark::train
