#include "snapshot/data_plane.h"

#include <poll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>

#include "snapshot/wire.h"

namespace bulwark::snapshot {
namespace {

using nlohmann::json;
using boost::asio::ip::tcp;

json KeyMeta(const std::string& job, uint64_t step, uint32_t group, int index) {
  return {{"job", job}, {"step", step}, {"group", group}, {"index", index}};
}

ParityKey ParityKeyOf(const json& m) {
  return {m.at("job").get<std::string>(), m.at("step").get<uint64_t>(), m.at("group").get<uint32_t>(), m.at("index").get<int>()};
}

ContributionInfo InfoOf(const json& m) {
  ContributionInfo info;
  info.k = m.at("k").get<int>();
  info.m = m.at("m").get<int>();
  info.members = m.at("members").get<int>();
  info.block = m.at("block").get<int>();
  info.shard.rank = m.at("rank").get<int>();
  info.shard.bytes = m.at("shard_bytes").get<uint64_t>();
  info.shard.crc = m.at("shard_crc").get<uint32_t>();
  return info;
}

json InfoMeta(const ParityKey& key, const ContributionInfo& info) {
  json m = KeyMeta(key.job, key.step, key.group, key.index);
  m["k"] = info.k;
  m["m"] = info.m;
  m["members"] = info.members;
  m["block"] = info.block;
  m["rank"] = info.shard.rank;
  m["shard_bytes"] = info.shard.bytes;
  m["shard_crc"] = info.shard.crc;
  return m;
}

}  // namespace

struct DataPlaneServer::Impl {
  boost::asio::io_context io;
  tcp::acceptor acceptor{io};
  ParityStore* parity = nullptr;
  LocalBlockSource local;
  std::function<void(const std::string&)> log;
  size_t chunk_bytes = 0;
  int seal_timeout_ms = 0;
  DataPlaneCounters counters;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  // One per accepted connection, until its thread has ended and been joined: members open
  // one per step and parity holder, so a server that kept them all (it did) ran out of file
  // descriptors within a long run, and the ranks' mpirun, inheriting the agent's, aborted.
  struct Connection {
    std::shared_ptr<wire::Socket> socket;
    std::thread thread;
    bool done = false;  // guarded by mutex
  };
  std::mutex mutex;
  std::list<Connection> connections;

  void AcceptLoop() {
    while (!stopping) {
      auto socket = std::make_shared<wire::Socket>(io);
      boost::system::error_code ec;
      acceptor.accept(*socket, ec);
      if (ec || stopping) break;
      wire::SetTimeouts(*socket, seal_timeout_ms + 30000);
      ++counters.connections;
      JoinEnded();
      std::lock_guard<std::mutex> lock(mutex);
      connections.push_back({socket, {}, false});
      auto it = std::prev(connections.end());
      it->thread = std::thread([this, it] {
        Serve(*it->socket);
        std::lock_guard<std::mutex> done_lock(mutex);
        boost::system::error_code ignored;
        it->socket->close(ignored);
        it->done = true;
      });
    }
  }

  // Joins and forgets the connections whose threads have ended.
  void JoinEnded() {
    std::list<Connection> ended;
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (auto it = connections.begin(); it != connections.end();) {
        auto next = std::next(it);
        if (it->done) ended.splice(ended.end(), connections, it);
        it = next;
      }
    }
    for (auto& c : ended) c.thread.join();
  }

  // One connection: frames until the peer closes or sends something we cannot read.
  void Serve(wire::Socket& socket) {
    std::map<ParityKey, std::string> refused;  // contributions this connection could not apply
    wire::Frame frame;
    while (!stopping) {
      if (Status read = wire::ReadFrameInto(socket, &frame); !read.ok()) {
        if (read.message() != "peer closed the connection" && !stopping) {
          ++counters.bad_frames;
          log("data plane: dropping a connection: " + read.message());
        }
        break;
      }
      try {
        if (!Handle(socket, frame, refused)) break;
      } catch (const std::exception& e) {
        ++counters.bad_frames;
        log(std::string("data plane: bad frame meta (") + e.what() + "); dropping the connection");
        wire::WriteFrame(socket, wire::kResult, {{"ok", false}, {"message", std::string("bad frame: ") + e.what()}});
        break;
      }
    }
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  bool Handle(wire::Socket& socket, wire::Frame& f, std::map<ParityKey, std::string>& refused) {
    switch (f.type) {
      case wire::kContribution: {
        counters.bytes_received += f.payload.size();
        const ParityKey key = ParityKeyOf(f.meta);
        if (refused.count(key)) return true;
        Status s = parity->Add(key, InfoOf(f.meta), f.meta.at("offset").get<uint64_t>(), f.payload.data(), f.payload.size());
        if (!s.ok()) {
          log("data plane: " + s.message());
          refused[key] = s.message();
        }
        return true;
      }
      case wire::kContributionEnd: {
        const ParityKey key = ParityKeyOf(f.meta);
        auto it = refused.find(key);
        Status s = it != refused.end() ? Status::Error(it->second) : parity->WaitSealed(key, InfoOf(f.meta), seal_timeout_ms);
        if (it != refused.end()) refused.erase(it);
        return wire::WriteFrame(socket, wire::kResult, {{"ok", s.ok()}, {"message", s.ok() ? "" : s.message()}}).ok();
      }
      case wire::kFetch:
        return Fetch(socket, f.meta);
      case wire::kProbe:
        counters.probe_bytes += f.payload.size();
        return !f.meta.value("reply", false) || wire::WriteFrame(socket, wire::kResult, {{"ok", true}}).ok();
      default:
        ++counters.bad_frames;
        wire::WriteFrame(socket, wire::kResult, {{"ok", false}, {"message", "unknown frame type " + std::to_string(f.type)}});
        return false;
    }
  }

  bool Fetch(wire::Socket& socket, const json& meta) {
    const ChunkKey key{meta.at("job").get<std::string>(), meta.at("step").get<uint64_t>(), meta.at("group").get<uint32_t>(),
                       meta.at("index").get<int>()};
    Status sent_head = Status::Error("");
    auto send_bytes = [&](const FragmentHeader& h, const std::function<void(uint64_t, uint8_t*, size_t)>& read,
                          const uint8_t* direct) -> Status {
      auto bytes = SerializeHeader(h);
      if (!bytes.ok()) return bytes.status();
      sent_head = wire::WriteFrame(socket, wire::kFragment, {{"ok", true}}, bytes->data(), bytes->size());
      if (!sent_head.ok()) return sent_head;
      std::vector<uint8_t> buffer(direct ? 0 : chunk_bytes);
      for (uint64_t offset = 0; offset < h.fragment_bytes; offset += chunk_bytes) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_bytes, h.fragment_bytes - offset));
        const uint8_t* p = direct ? direct + offset : buffer.data();
        if (!direct) read(offset, buffer.data(), n);
        json m = KeyMeta(key.job, key.step, key.group, key.index);
        m["offset"] = offset;
        if (Status s = wire::WriteFrame(socket, wire::kData, m, p, n); !s.ok()) return s;
        counters.bytes_sent += n;
      }
      ++counters.fetches_served;
      return Status::Ok();
    };
    ParityKey pkey{key.job, key.step, key.group, key.index};
    Status s = parity->Read(pkey, [&](const FragmentHeader& h, const uint8_t* payload) { return send_bytes(h, nullptr, payload); });
    if (!s.ok() && !sent_head.ok() && local) {
      s = local(key, [&](const FragmentHeader& h, const NodeShard& shard) {
        return send_bytes(h, [&](uint64_t offset, uint8_t* out, size_t n) { shard.Read(offset, out, n); }, nullptr);
      });
    }
    if (sent_head.ok()) return s.ok();  // failed mid-stream: the socket is unusable
    return wire::WriteFrame(socket, wire::kFragment, {{"ok", false}, {"message", s.message()}}).ok();
  }
};

DataPlaneServer::DataPlaneServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<DataPlaneServer>> DataPlaneServer::Start(const std::string& host, uint16_t port, ParityStore* parity,
                                                                LocalBlockSource local,
                                                                std::function<void(const std::string&)> log,
                                                                size_t chunk_bytes, int seal_timeout_ms) {
  auto impl = std::make_unique<Impl>();
  impl->parity = parity;
  impl->local = std::move(local);
  impl->log = std::move(log);
  impl->chunk_bytes = chunk_bytes;
  impl->seal_timeout_ms = seal_timeout_ms;
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  if (ec) return Status::Error("snapshot data plane: '" + host + "' is not an IP address");
  impl->acceptor.open(ip.is_v6() ? tcp::v6() : tcp::v4(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind({ip, port}, ec);
  if (!ec) impl->acceptor.listen(64, ec);
  if (ec) return Status::Error("snapshot data plane cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<DataPlaneServer>(new DataPlaneServer(std::move(impl)));
}

DataPlaneServer::~DataPlaneServer() { Stop(); }

uint16_t DataPlaneServer::port() const { return impl_->acceptor.local_endpoint().port(); }

const DataPlaneCounters& DataPlaneServer::counters() const { return impl_->counters; }

void DataPlaneServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);  // wakes the blocking accept
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::list<Impl::Connection> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (auto& c : impl_->connections) c.socket->shutdown(tcp::socket::shutdown_both, ec);
    all.splice(all.end(), impl_->connections);
  }
  for (auto& c : all) c.thread.join();  // outside the lock: each ending thread takes it
}

Status SendContribution(const std::string& address, const ParityKey& key, const ContributionInfo& info,
                        const ErasureCode& code, const NodeShard& shard, size_t chunk_bytes, int timeout_ms,
                        const std::function<bool()>& abandon) {
  boost::asio::io_context io;
  wire::Socket socket(io);
  if (Status s = wire::Connect(socket, address, timeout_ms); !s.ok()) return s;
  json meta = InfoMeta(key, info);
  std::vector<uint8_t> plain(chunk_bytes), coded(chunk_bytes);
  const int row = key.index - info.k;
  for (uint64_t offset = 0; offset < info.shard.bytes; offset += chunk_bytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_bytes, info.shard.bytes - offset));
    shard.Read(offset, plain.data(), n);
    code.Contribution(row, info.block, plain.data(), n, coded.data());
    meta["offset"] = offset;
    if (Status s = wire::WriteFrame(socket, wire::kContribution, meta, coded.data(), n); !s.ok()) return s;
  }
  meta.erase("offset");
  if (Status s = wire::WriteFrame(socket, wire::kContributionEnd, meta); !s.ok()) return s;
  while (abandon) {
    pollfd answer{socket.native_handle(), POLLIN, 0};
    const int ready = ::poll(&answer, 1, 200);
    if (ready > 0 || (ready < 0 && errno != EINTR)) break;
    if (abandon()) return Status::Error(address + ": stopped waiting for the seal of step " + std::to_string(key.step));
  }
  auto reply = wire::ReadFrame(socket);
  if (!reply.ok()) return Status::Error("no answer from " + address + ": " + reply.status().message());
  if (reply->type != wire::kResult || !reply->meta.value("ok", false)) {
    return Status::Error(address + ": " + reply->meta.value("message", std::string("unexpected answer")));
  }
  return Status::Ok();
}

Result<FetchedFragment> FetchFragment(const std::string& address, const ChunkKey& key, int timeout_ms) {
  boost::asio::io_context io;
  wire::Socket socket(io);
  if (Status s = wire::Connect(socket, address, timeout_ms); !s.ok()) return s;
  if (Status s = wire::WriteFrame(socket, wire::kFetch, KeyMeta(key.job, key.step, key.group, key.index)); !s.ok()) return s;
  auto head = wire::ReadFrame(socket);
  if (!head.ok()) return Status::Error(address + ": " + head.status().message());
  if (head->type != wire::kFragment || !head->meta.value("ok", false)) {
    return Status::Error(address + ": " + head->meta.value("message", std::string("unexpected answer")));
  }
  auto header = ParseHeader(head->payload.data(), head->payload.size());
  if (!header.ok()) return Status::Error(address + ": " + header.status().message());
  if (!(KeyOf(header.value()) == key)) return Status::Error(address + " answered with another fragment than asked for");
  FragmentAssembler assembler(header.value());
  wire::Frame frame;
  auto* f = &frame;
  while (!assembler.complete()) {
    if (Status read = wire::ReadFrameInto(socket, f); !read.ok()) return Status::Error(address + ": " + read.message());
    if (f->type != wire::kData) return Status::Error(address + ": unexpected frame in a fragment's data");
    try {
      const ChunkKey chunk{f->meta.at("job").get<std::string>(), f->meta.at("step").get<uint64_t>(),
                           f->meta.at("group").get<uint32_t>(), f->meta.at("index").get<int>()};
      if (Status s = assembler.Add(chunk, f->meta.at("offset").get<uint64_t>(), f->payload.data(), f->payload.size()); !s.ok()) {
        return Status::Error(address + ": " + s.message());
      }
    } catch (const std::exception& e) {
      return Status::Error(address + ": bad chunk meta: " + e.what());
    }
  }
  auto payload = assembler.Finish();
  if (!payload.ok()) return Status::Error("from " + address + ": " + payload.status().message());
  return FetchedFragment{header.value(), std::move(payload).value()};
}

Result<LinkMeasurement> ProbeLink(const std::string& address, int pings, size_t bulk_bytes, int timeout_ms) {
  boost::asio::io_context io;
  wire::Socket socket(io);
  if (Status s = wire::Connect(socket, address, timeout_ms); !s.ok()) return s;
  const auto round_trip = [&](const uint8_t* payload, size_t bytes) -> Status {
    if (Status s = wire::WriteFrame(socket, wire::kProbe, {{"reply", true}}, payload, bytes); !s.ok()) return s;
    auto answer = wire::ReadFrame(socket);
    if (!answer.ok()) return answer.status();
    if (answer->type != wire::kResult || !answer->meta.value("ok", false)) return Status::Error("probe not acknowledged");
    return Status::Ok();
  };
  LinkMeasurement m;
  std::vector<double> rtts;
  for (int i = 0; i < pings; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (Status s = round_trip(nullptr, 0); !s.ok()) return Status::Error(address + ": " + s.message());
    rtts.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  if (!rtts.empty()) {
    std::nth_element(rtts.begin(), rtts.begin() + static_cast<std::ptrdiff_t>(rtts.size() / 2), rtts.end());
    m.latency_us = rtts[rtts.size() / 2];
  }
  constexpr size_t kFrame = 1 << 20;
  const std::vector<uint8_t> chunk(std::min(bulk_bytes, kFrame), 0x5a);
  // The bulk phase stops at timeout_ms with what it sent by then: a link slow enough to
  // take minutes over 16 MiB (a 50 Mbit/s link under snapshot traffic did) is measured
  // all the same, and the probe matrix waits for no one that long.
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  size_t sent = 0;
  while (sent < bulk_bytes) {
    const size_t n = std::min(chunk.size(), bulk_bytes - sent);
    sent += n;
    const bool last = sent == bulk_bytes || elapsed_ms() >= timeout_ms;
    Status s = last ? round_trip(chunk.data(), n)  // the last one is acknowledged
                    : wire::WriteFrame(socket, wire::kProbe, json::object(), chunk.data(), n);
    if (!s.ok()) return Status::Error(address + ": " + s.message());
    if (last) break;
  }
  const double seconds = elapsed_ms() / 1000;
  if (sent > 0 && seconds > 0) m.mbps = static_cast<double>(sent) / seconds / 1e6;
  return m;
}

}  // namespace bulwark::snapshot
