// The agents' snapshot data plane on Boost.Asio TCP, apart from the HTTP control API.
//
// Server: accepts connections (a thread each; there are a few peers, not thousands) and
// serves two things: a member's contribution to a parity block it holds (chunks XORed into
// the ParityStore as they stream in, pipelined with no per-chunk round trip; the end frame
// is answered once the block is sealed), and a fetch of a fragment it holds: a parity block,
// or its own data block (its node shard, read straight out of the ranks' slots).
//
// Client: SendContribution streams coefficient × shard to one holder chunk by chunk (TCP's
// window is the backpressure) and waits for the seal; FetchFragment pulls a fragment back,
// every chunk keyed to job, step, group and index and the whole checked against its CRC.
// Callers retry after a dropped connection: resent chunks are recognised, not re-applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/erasure_code.h"
#include "snapshot/fragment.h"
#include "snapshot/fragment_assembler.h"
#include "snapshot/node_shard.h"
#include "snapshot/parity_store.h"

namespace bulwark::snapshot {

// Serves this node's own data block `key` (its node shard): the header, then the bytes.
using LocalBlockSource = std::function<Status(const ChunkKey& key, const std::function<Status(const FragmentHeader&, const NodeShard&)>& send)>;

struct DataPlaneCounters {
  std::atomic<uint64_t> bytes_received{0}, bytes_sent{0}, connections{0}, bad_frames{0}, fetches_served{0}, probe_bytes{0};
};

class DataPlaneServer {
 public:
  static Result<std::unique_ptr<DataPlaneServer>> Start(const std::string& host, uint16_t port, ParityStore* parity,
                                                        LocalBlockSource local, std::function<void(const std::string&)> log,
                                                        size_t chunk_bytes = 4 << 20, int seal_timeout_ms = 60000);
  ~DataPlaneServer();
  uint16_t port() const;
  const DataPlaneCounters& counters() const;
  void Stop();

  struct Impl;

 private:
  explicit DataPlaneServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streams this member's contribution to parity block key.index and waits until the holder
// sealed it (every member's contribution in). One connection; the caller retries.
// `abandon`, asked every 200 ms of that wait, ends it early: the members disagree on the
// step once the plan moved on, and the holder would otherwise wait out its whole timeout
// for a block that never comes (the ranks' commits stall behind this protection).
Status SendContribution(const std::string& address, const ParityKey& key, const ContributionInfo& info,
                        const ErasureCode& code, const NodeShard& shard, size_t chunk_bytes, int timeout_ms,
                        const std::function<bool()>& abandon = {});

struct FetchedFragment {
  FragmentHeader header;
  HugeVector<uint8_t> payload;
};
// Fetches fragment `key` from `address`, checked against its header's length and CRC.
Result<FetchedFragment> FetchFragment(const std::string& address, const ChunkKey& key, int timeout_ms);

// What one agent measures towards another's data plane (diagnosis' probe matrix): the
// median round trip of `pings` empty frames, then `bulk_bytes` streamed in 1 MiB frames
// until the last is acknowledged, or fewer when the stream has taken timeout_ms (the last
// one sent then is acknowledged and the rate is of what was sent). One connection.
struct LinkMeasurement {
  double latency_us = 0;
  double mbps = 0;  // megabytes (10^6) per second
};
Result<LinkMeasurement> ProbeLink(const std::string& address, int pings, size_t bulk_bytes, int timeout_ms);

}  // namespace bulwark::snapshot
