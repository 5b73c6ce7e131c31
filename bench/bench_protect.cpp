// Protection across peers over real loopback TCP, in one process: k member "nodes" each
// holding a double-buffered state of S bytes, m parity holders, each with its own data-plane
// server. Prints JSON:
//   protect_vs_tcp  time for raw TCP to move the bytes the members must send (m × S each,
//                   k × m streams at once) ÷ time to code, send and get every parity block
//                   sealed (all members at once, as a step does). Goal >= 0.7.
//   restore_from_peers_gbps  a lost member's shard rebuilt: k fragments fetched over TCP,
//                   decoded and checked against the shard CRC.
//   memory_overhead peak bytes held (both slots of every member, every parity version held,
//                   every sender's chunk buffers) ÷ the training state (k × S), after two
//                   steps so that old and new parity coexist. Goal <= 2 + 2m/k.
//   bench_protect [--mib S ...] [--k K] [--m M]   (default S = 64 256, RS(4,2))
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "snapshot/data_plane.h"
#include "snapshot/erasure_code.h"
#include "snapshot/node_shard.h"

namespace {

using namespace bulwark::snapshot;
using Clock = std::chrono::steady_clock;
using boost::asio::ip::tcp;
constexpr size_t kChunk = 4 << 20;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Raw loopback TCP: `streams` connections at once, each moving `bytes` in kChunk writes.
double RawTcpSeconds(int streams, size_t bytes) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto endpoint = acceptor.local_endpoint();
  std::vector<std::shared_ptr<tcp::socket>> accepted;
  std::vector<std::thread> senders;
  const auto t0 = Clock::now();
  for (int i = 0; i < streams; ++i) {
    senders.emplace_back([endpoint, bytes] {
      boost::asio::io_context local;
      tcp::socket s(local);
      s.connect(endpoint);
      std::vector<uint8_t> buf(kChunk, 7);
      for (size_t sent = 0; sent < bytes; sent += kChunk) {
        boost::asio::write(s, boost::asio::buffer(buf.data(), std::min(kChunk, bytes - sent)));
      }
      uint8_t ack;
      boost::asio::read(s, boost::asio::buffer(&ack, 1));
    });
  }
  // Accept here while the senders connect; a reader thread per connection.
  for (int i = 0; i < streams; ++i) {
    auto socket = std::make_shared<tcp::socket>(io);
    acceptor.accept(*socket);
    accepted.push_back(socket);
  }
  std::vector<std::thread> readers;
  for (auto& socket : accepted) {
    readers.emplace_back([socket, bytes] {
      std::vector<uint8_t> buf(kChunk);
      size_t got = 0;
      while (got < bytes) got += socket->read_some(boost::asio::buffer(buf));
      uint8_t ack = 1;
      boost::asio::write(*socket, boost::asio::buffer(&ack, 1));
    });
  }
  for (auto& t : senders) t.join();
  const double s = Since(t0);
  for (auto& t : readers) t.join();
  return s;
}

nlohmann::json Row(int k, int m, size_t state_bytes) {
  const std::string prefix = "bwprot" + std::to_string(getpid());
  auto code = ErasureCode::Create(k, m).value();
  // Members' two slots (committed and the one being written), the state in the first.
  std::vector<std::vector<uint8_t>> slots(static_cast<size_t>(2 * k));
  for (int i = 0; i < k; ++i) {
    for (int s = 0; s < 2; ++s) {
      auto& v = slots[static_cast<size_t>(2 * i + s)];
      v.assign(state_bytes, 0);
      for (size_t j = 0; j < state_bytes; j += 512) v[j] = static_cast<uint8_t>(j * 31 + i + s);
    }
  }
  std::vector<std::unique_ptr<ParityStore>> stores;
  std::vector<std::unique_ptr<DataPlaneServer>> servers;
  std::vector<std::string> addresses;
  for (int j = 0; j < m; ++j) {
    stores.push_back(std::make_unique<ParityStore>(prefix + "h" + std::to_string(j), 0));
    auto server = DataPlaneServer::Start("127.0.0.1", 0, stores.back().get(), nullptr, [](const std::string&) {}, kChunk, 120000);
    addresses.push_back("127.0.0.1:" + std::to_string(server.value()->port()));
    servers.push_back(std::move(server).value());
  }
  uint64_t peak_parity = 0;
  std::vector<double> protect_s;
  std::vector<std::unique_ptr<NodeShard>> shards;
  for (uint64_t step = 1; step <= 3; ++step) {
    shards.clear();
    for (int i = 0; i < k; ++i) {
      const auto& slot = slots[static_cast<size_t>(2 * i + (step % 2))];
      shards.push_back(std::make_unique<NodeShard>(step, std::vector<RankPiece>{{i, slot.data(), slot.size()}}));
    }
    const auto t0 = Clock::now();
    std::vector<std::thread> members;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < m; ++j) {
        members.emplace_back([&, i, j] {
          ContributionInfo info{k, m, k, i, {i, shards[static_cast<size_t>(i)]->size(), shards[static_cast<size_t>(i)]->Crc()}};
          bulwark::Status s = SendContribution(addresses[static_cast<size_t>(j)], {"bench", step, 0, k + j}, info, code,
                                      *shards[static_cast<size_t>(i)], kChunk, 120000);
          if (!s.ok()) {
            std::fprintf(stderr, "protect failed: %s\n", s.message().c_str());
            std::abort();
          }
        });
      }
    }
    for (auto& t : members) t.join();
    protect_s.push_back(Since(t0));
    uint64_t parity = 0;
    for (auto& s : stores) parity += s->bytes_held();
    peak_parity = std::max(peak_parity, parity);
  }
  // The members' sending threads each hold two chunk buffers (plain and coded).
  const uint64_t sender_buffers = static_cast<uint64_t>(k) * m * 2 * kChunk;
  const uint64_t member_bytes = static_cast<uint64_t>(2 * k) * state_bytes;
  const double overhead = static_cast<double>(member_bytes + peak_parity + sender_buffers) / (static_cast<double>(k) * state_bytes);

  // Raw TCP moving the same bytes: every member sends m × its shard.
  std::vector<double> raw_s;
  for (int r = 0; r < 3; ++r) raw_s.push_back(RawTcpSeconds(k * m, shards[0]->size()));

  // Rebuild member 0 of step 3 from members 1.. and the parity blocks, as a restore does.
  const uint64_t step = 3;
  std::vector<double> restore_s;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    std::vector<FetchedFragment> parity;
    for (int j = 0; j < m && static_cast<int>(parity.size()) < 1; ++j) {
      auto f = FetchFragment(addresses[static_cast<size_t>(j)], {"bench", step, 0, k + j}, 120000);
      if (!f.ok()) std::abort();
      parity.push_back(std::move(f).value());
    }
    const size_t len = parity[0].payload.size();
    std::vector<bulwark::HugeVector<uint8_t>> blocks;
    std::vector<int> index;
    for (int i = 1; i < k; ++i) {  // the surviving members' blocks, as their servers would send them
      blocks.emplace_back(len, 0);
      shards[static_cast<size_t>(i)]->Read(0, blocks.back().data(), shards[static_cast<size_t>(i)]->size());
      index.push_back(i);
    }
    index.push_back(k);
    std::vector<const uint8_t*> present;
    for (auto& b : blocks) present.push_back(b.data());
    present.push_back(parity[0].payload.data());
    bulwark::HugeVector<uint8_t> out(len);
    uint8_t* outs[] = {out.data()};
    if (!code.Decode(index, present.data(), len, {0}, outs).ok()) std::abort();
    if (Crc32c(out.data(), parity[0].header.shards[0].bytes) != parity[0].header.shards[0].crc) {
      std::fprintf(stderr, "rebuilt shard fails its CRC\n");
      std::abort();
    }
    restore_s.push_back(Since(t0));
  }
  for (auto& s : servers) s->Stop();
  for (int j = 0; j < m; ++j) {
    for (uint64_t s = 1; s <= 3; ++s) {
      shm_unlink(("/" + prefix + "h" + std::to_string(j) + ".bench.g0.p" + std::to_string(k + j) + ".s" + std::to_string(s)).c_str());
    }
  }
  const double protect = Median(protect_s), raw = Median(raw_s), restore = Median(restore_s);
  return {{"code", "RS(" + std::to_string(k) + "," + std::to_string(m) + ")"},
          {"state_mib_per_node", state_bytes >> 20},
          {"protect_ms", protect * 1e3},
          {"raw_tcp_ms", raw * 1e3},
          {"protect_vs_tcp", raw / protect},
          {"restore_from_peers_gbps", static_cast<double>(state_bytes) / restore / 1e9},
          {"restore_from_peers_ms", restore * 1e3},
          {"memory_overhead", overhead},
          {"memory_overhead_goal", 2.0 + 2.0 * m / k}};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> mibs;
  int k = 4, m = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--k" && i + 1 < argc) k = std::atoi(argv[++i]);
    else if (a == "--m" && i + 1 < argc) m = std::atoi(argv[++i]);
    else if (a == "--mib") {
      while (i + 1 < argc && argv[i + 1][0] != '-') mibs.push_back(static_cast<size_t>(std::atoi(argv[++i])));
    }
  }
  if (mibs.empty()) mibs = {64, 256};
  nlohmann::json rows = nlohmann::json::array();
  for (size_t mib : mibs) rows.push_back(Row(k, m, mib << 20));
  std::printf("%s\n", nlohmann::json{{"bench", "protect"}, {"rows", rows}}.dump().c_str());
  return 0;
}
