// The snapshot path so far. (1) The trainer's stall: SnapshotClient commit of a state of
// 64 MiB .. 1 GiB (4 GiB with --max-gib 4) against a plain memcpy of the same bytes and
// against a synchronous checkpoint to local disk with fsync; and 10,000 named buffers
// against one buffer of the same total. (2) Erasure coding and checksums per core against
// memcpy. More figures join as the data plane lands (protect_vs_tcp, restore, memory).
//   bench_snapshot [--mib N] [--max-gib G]   (coding block size, default 16; largest state, default 1)
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "snapshot/erasure_code.h"
#include "snapshot/snapshot_client.h"

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

using bulwark::snapshot::SnapshotClient;

// Commit `buffers` (pointer, bytes) as one snapshot; returns the stall in seconds.
double CommitSeconds(SnapshotClient& c, uint64_t step, const std::vector<std::pair<const uint8_t*, size_t>>& buffers) {
  const auto t0 = Clock::now();
  if (!c.Begin(step).ok()) std::abort();
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!c.Add("b" + std::to_string(i), buffers[i].first, buffers[i].second).ok()) std::abort();
  }
  if (!c.Commit().ok()) std::abort();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

nlohmann::json StallRows(size_t max_gib) {
  nlohmann::json rows = nlohmann::json::array();
  const std::string prefix = "bwbench" + std::to_string(getpid());
  std::vector<size_t> sizes = {64ull << 20, 256ull << 20, 1ull << 30};
  if (max_gib >= 4) sizes.push_back(4ull << 30);
  for (size_t bytes : sizes) {
    std::vector<uint8_t> state(bytes), copy(bytes);
    for (size_t i = 0; i < bytes; i += 4096) state[i] = static_cast<uint8_t>(i >> 12);
    std::memset(copy.data(), 1, bytes);
    auto client = SnapshotClient::Open(prefix, "bench", 0).value();
    uint64_t step = 0;
    CommitSeconds(*client, step++, {{state.data(), bytes}});  // first touch of both slots
    CommitSeconds(*client, step++, {{state.data(), bytes}});
    const double stall = MedianSeconds(5, [&] { CommitSeconds(*client, step++, {{state.data(), bytes}}); });
    const double plain = MedianSeconds(5, [&] { std::memcpy(copy.data(), state.data(), bytes); });
    // A restarted trainer restoring from its agent's memory on the same node.
    const double restore = MedianSeconds(5, [&] {
      if (!client->Restore(step - 1, "b0", copy.data(), bytes).ok()) std::abort();
    });
    // A synchronous checkpoint to local disk: write the state, fsync, as torch.save + fsync would.
    const std::string path = "bench-snapshot-" + std::to_string(getpid()) + ".ckpt";
    const double disk = MedianSeconds(3, [&] {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      size_t off = 0;
      while (off < bytes) {
        const ssize_t n = ::write(fd, state.data() + off, std::min<size_t>(bytes - off, 64 << 20));
        if (n <= 0) std::abort();
        off += static_cast<size_t>(n);
      }
      ::fsync(fd);
      ::close(fd);
    });
    ::unlink(path.c_str());
    client.reset();
    SnapshotClient::Remove(prefix, "bench", 0);
    rows.push_back({{"state_mib", bytes >> 20},
                    {"stall_ms", stall * 1e3},
                    {"memcpy_ms", plain * 1e3},
                    {"stall_vs_memcpy", stall / plain},
                    {"restore_local_gbps", static_cast<double>(bytes) / restore / 1e9},
                    {"disk_fsync_ms", disk * 1e3},
                    {"stall_vs_disk", disk / stall}});
  }
  return rows;
}

// 10,000 named buffers of mixed sizes against one buffer of the same total.
nlohmann::json SmallBuffers() {
  const std::string prefix = "bwbench" + std::to_string(getpid());
  std::vector<std::vector<uint8_t>> parts;
  size_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    parts.emplace_back(static_cast<size_t>(256 + (i * 7919) % 65536), static_cast<uint8_t>(i));
    total += parts.back().size();
  }
  std::vector<uint8_t> whole(total, 3);
  std::vector<std::pair<const uint8_t*, size_t>> many, one = {{whole.data(), total}};
  for (auto& p : parts) many.emplace_back(p.data(), p.size());
  auto client = SnapshotClient::Open(prefix, "small", 0).value();
  uint64_t step = 0;
  CommitSeconds(*client, step++, many);
  CommitSeconds(*client, step++, many);
  const double many_s = MedianSeconds(5, [&] { CommitSeconds(*client, step++, many); });
  client.reset();
  SnapshotClient::Remove(prefix, "small", 0);
  client = SnapshotClient::Open(prefix, "small", 0).value();
  CommitSeconds(*client, step++, one);
  CommitSeconds(*client, step++, one);
  const double one_s = MedianSeconds(5, [&] { CommitSeconds(*client, step++, one); });
  client.reset();
  SnapshotClient::Remove(prefix, "small", 0);
  return {{"buffers", parts.size()},
          {"total_mib", static_cast<double>(total) / (1 << 20)},
          {"snapshot_10000_buffers_ms", many_s * 1e3},
          {"snapshot_one_buffer_ms", one_s * 1e3},
          {"ratio", many_s / one_s}};
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 16, max_gib = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--mib") mib = static_cast<size_t>(std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--max-gib") max_gib = static_cast<size_t>(std::atoi(argv[i + 1]));
  }
  const nlohmann::json stall = StallRows(max_gib);
  const nlohmann::json small = SmallBuffers();
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
                                     {"stall", stall},
                                     {"small_buffers", small},
                                     {"block_mib", mib},
                                     {"memcpy_gbps", memcpy_gbps},
                                     {"codes", codes}}
                          .dump()
                          .c_str());
  return 0;
}
