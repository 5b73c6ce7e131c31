// The snapshot path's cores, so far: erasure coding and checksums per core, against a
// plain memcpy of the same bytes in the same run (memory bandwidth is the yardstick: a
// snapshot copies the state once anyway). More figures join as the client and the data plane
// land (issue 5: stall_vs_memcpy, stall_vs_disk, protect_vs_tcp, restore, memory overhead).
//   bench_snapshot [--mib N]   (block size per data fragment; default 16)
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "snapshot/erasure_code.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double MedianSeconds(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 16;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--mib") mib = static_cast<size_t>(std::atoi(argv[i + 1]));
  const size_t len = mib << 20;
  nlohmann::json codes = nlohmann::json::array();
  double memcpy_gbps = 0;
  for (auto [k, m] : {std::pair{4, 2}, std::pair{8, 2}, std::pair{8, 3}}) {
    auto code = bulwark::snapshot::ErasureCode::Create(k, m).value();
    std::vector<std::vector<uint8_t>> data(static_cast<size_t>(k), std::vector<uint8_t>(len));
    std::mt19937 rng(1);
    for (auto& d : data)
      for (size_t i = 0; i < len; i += 64) d[i] = static_cast<uint8_t>(rng());
    std::vector<std::vector<uint8_t>> parity(static_cast<size_t>(m), std::vector<uint8_t>(len));
    std::vector<uint8_t*> dp, pp;
    for (auto& d : data) dp.push_back(d.data());
    for (auto& p : parity) pp.push_back(p.data());
    const double bytes = static_cast<double>(len) * k;
    // Baseline: copying the same data bytes once.
    std::vector<uint8_t> copy(len);
    const double copy_s = MedianSeconds(7, [&] {
      for (auto& d : data) std::memcpy(copy.data(), d.data(), len);
    });
    memcpy_gbps = bytes / copy_s / 1e9;
    const double encode_s = MedianSeconds(7, [&] { code.Encode(dp.data(), len, pp.data()); });
    // Each node's own contribution folded into zeroed parity (how groups are coded).
    const double fold_s = MedianSeconds(7, [&] {
      for (auto& p : parity) std::memset(p.data(), 0, len);
      for (int i = 0; i < k; ++i) code.AccumulateParity(i, dp[static_cast<size_t>(i)], len, pp.data());
    });
    // Decode after losing the first m data blocks.
    std::vector<int> present_index, wanted;
    std::vector<const uint8_t*> present;
    for (int i = m; i < k; ++i) {
      present_index.push_back(i);
      present.push_back(dp[static_cast<size_t>(i)]);
    }
    for (int j = 0; j < m; ++j) {
      present_index.push_back(k + j);
      present.push_back(pp[static_cast<size_t>(j)]);
      wanted.push_back(j);
    }
    std::vector<std::vector<uint8_t>> out(static_cast<size_t>(m), std::vector<uint8_t>(len));
    std::vector<uint8_t*> op;
    for (auto& o : out) op.push_back(o.data());
    const double decode_s = MedianSeconds(7, [&] {
      if (!code.Decode(present_index, present.data(), len, wanted, op.data()).ok()) std::abort();
    });
    for (int j = 0; j < m; ++j) {
      if (out[static_cast<size_t>(j)] != data[static_cast<size_t>(j)]) {
        std::fprintf(stderr, "decode produced wrong bytes\n");
        return 1;
      }
    }
    const double crc_s = MedianSeconds(7, [&] {
      uint32_t c = 0;
      for (auto& d : data) c ^= bulwark::snapshot::Crc32c(d.data(), len);
      if (c == 0x12345678) std::puts("");  // keep the result live
    });
    codes.push_back({{"code", "RS(" + std::to_string(k) + "," + std::to_string(m) + ")"},
                     {"encode_gbps", bytes / encode_s / 1e9},
                     {"fold_one_shard_at_a_time_gbps", bytes / fold_s / 1e9},
                     {"decode_m_lost_gbps", bytes / decode_s / 1e9},
                     {"crc32c_gbps", bytes / crc_s / 1e9},
                     {"encode_vs_memcpy", (bytes / encode_s) / (bytes / copy_s)}});
  }
  std::printf("%s\n", nlohmann::json{{"bench", "snapshot"},
                                     {"block_mib", mib},
                                     {"memcpy_gbps", memcpy_gbps},
                                     {"codes", codes}}
                          .dump()
                          .c_str());
  return 0;
}
