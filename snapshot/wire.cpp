#include "snapshot/wire.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

#include "common/host_port.h"

namespace bulwark::snapshot::wire {
namespace {

constexpr uint32_t kMagic = 0x50445742;  // "BWDP"
constexpr size_t kHeaderBytes = 24;

}  // namespace

void SetTimeouts(Socket& socket, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int one = 1;
  setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Status WriteFrame(Socket& socket, uint32_t type, const nlohmann::json& meta, const uint8_t* payload, size_t payload_bytes) {
  const std::string text = meta.dump();
  uint8_t header[kHeaderBytes] = {};
  const uint32_t meta_len = static_cast<uint32_t>(text.size());
  const uint64_t payload_len = payload_bytes;
  std::memcpy(header, &kMagic, 4);
  std::memcpy(header + 4, &type, 4);
  std::memcpy(header + 8, &meta_len, 4);
  std::memcpy(header + 16, &payload_len, 8);
  std::vector<boost::asio::const_buffer> buffers{boost::asio::buffer(header), boost::asio::buffer(text)};
  if (payload_bytes > 0) buffers.push_back(boost::asio::buffer(payload, payload_bytes));
  boost::system::error_code ec;
  boost::asio::write(socket, buffers, ec);
  if (ec) return Status::Error("data plane send failed: " + ec.message());
  return Status::Ok();
}

Result<Frame> ReadFrame(Socket& socket) {
  Frame f;
  if (Status s = ReadFrameInto(socket, &f); !s.ok()) return s;
  return f;
}

Status ReadFrameInto(Socket& socket, Frame* frame) {
  Frame& f = *frame;
  uint8_t header[kHeaderBytes];
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::buffer(header), ec);
  if (ec) return Status::Error(ec == boost::asio::error::eof ? "peer closed the connection" : "data plane receive failed: " + ec.message());
  uint32_t magic, type, meta_len;
  uint64_t payload_len;
  std::memcpy(&magic, header, 4);
  std::memcpy(&type, header + 4, 4);
  std::memcpy(&meta_len, header + 8, 4);
  std::memcpy(&payload_len, header + 16, 8);
  if (magic != kMagic) return Status::Error("not a Bulwark data plane frame (bad magic)");
  if (meta_len > kMaxMetaBytes) return Status::Error("frame meta of " + std::to_string(meta_len) + " bytes is over the limit");
  if (payload_len > kMaxPayloadBytes) {
    return Status::Error("frame payload of " + std::to_string(payload_len) + " bytes is over the limit of " +
                         std::to_string(kMaxPayloadBytes));
  }
  std::string text(meta_len, '\0');
  f.type = type;
  if (f.payload.capacity() < payload_len) f.payload = std::vector<uint8_t>();  // no copy of the old bytes
  f.payload.resize(payload_len);
  std::vector<boost::asio::mutable_buffer> buffers{boost::asio::buffer(text)};
  if (payload_len > 0) buffers.push_back(boost::asio::buffer(f.payload));
  boost::asio::read(socket, buffers, ec);
  if (ec) return Status::Error("frame truncated: " + ec.message());
  f.meta = nlohmann::json::parse(text, nullptr, false);
  if (f.meta.is_discarded() || !f.meta.is_object()) return Status::Error("frame meta is not a JSON object");
  return Status::Ok();
}

Status Connect(Socket& socket, const std::string& address, int timeout_ms) {
  std::string host;
  uint16_t port = 0;
  if (Status s = ParseHostPort(address, &host, &port); !s.ok()) return Status::Error("peer address '" + address + "': " + s.message());
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  if (ec) return Status::Error("peer address '" + address + "' is not an IP address");
  socket.connect({ip, port}, ec);
  if (ec) return Status::Error("cannot connect to " + address + ": " + ec.message());
  SetTimeouts(socket, timeout_ms);
  return Status::Ok();
}

}  // namespace bulwark::snapshot::wire
