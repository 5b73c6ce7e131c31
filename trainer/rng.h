// SplitMix64: a tiny, fast generator whose whole state is one uint64_t, so a rank's RNG
// state is trivially part of its snapshot. Normal() uses Box-Muller in double so the
// stream is the same with every standard library.
#pragma once

#include <cmath>
#include <cstdint>

namespace bulwark::train {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed = 0) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n).
  uint64_t Below(uint64_t n) { return static_cast<uint64_t>(Uniform() * static_cast<double>(n)); }
  double Normal() {
    double a, b;
    NormalPair(&a, &b);
    return a;
  }
  // Both outputs of one Box-Muller draw: half the cost per normal, for bulk initialisation.
  void NormalPair(double* a, double* b) {
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1)), theta = 6.283185307179586 * u2;
    *a = r * std::cos(theta);
    *b = r * std::sin(theta);
  }

  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace bulwark::train
