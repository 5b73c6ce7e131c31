// Framing of the agents' snapshot data plane (TCP, separate from the HTTP control API):
// a 24-byte header (magic, type, meta length, payload length), a small JSON meta that names
// what the frame is about (job, step, group, fragment, offset), then raw payload bytes.
// Every chunk carries its full key, so bytes of one step can never be taken for another's.
// Blocking Boost.Asio sockets with send/receive timeouts: one thread per connection.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot::wire {

using Socket = boost::asio::ip::tcp::socket;

enum FrameType : uint32_t {
  kContribution = 1,     // a member's coded chunk for one parity block (meta: key, block, shard, offset)
  kContributionEnd = 2,  // all chunks sent; answered by kResult once the parity block is complete
  kResult = 3,           // meta: {ok, message}
  kFetch = 4,            // meta: {job, step, group, index}; answered by kFragment then kData frames
  kFragment = 5,         // meta: {ok, message}; payload: the fragment's serialized header
  kData = 6,             // meta: {offset}; payload: fragment bytes
  kProbe = 7,            // link probe (diagnosis): payload discarded; meta {reply: true} is answered by kResult
};

constexpr size_t kMaxMetaBytes = 64 << 10;
constexpr size_t kMaxPayloadBytes = 64 << 20;

struct Frame {
  uint32_t type = 0;
  nlohmann::json meta;
  std::vector<uint8_t> payload;
};

Status WriteFrame(Socket& socket, uint32_t type, const nlohmann::json& meta, const uint8_t* payload = nullptr,
                  size_t payload_bytes = 0);
// Errors name what was wrong with the frame (bad magic, oversized, bad meta) or the socket.
Result<Frame> ReadFrame(Socket& socket);
// The same into `frame`, reusing its payload's memory: a stream of 4 MiB chunks must not
// fault in fresh pages for every one.
Status ReadFrameInto(Socket& socket, Frame* frame);

// Connects to "host:port" with a timeout; sets send/receive timeouts on the socket.
Status Connect(Socket& socket, const std::string& address, int timeout_ms);
void SetTimeouts(Socket& socket, int timeout_ms);

}  // namespace bulwark::snapshot::wire
