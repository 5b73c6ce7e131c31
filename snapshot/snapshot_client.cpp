#include "snapshot/snapshot_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include "snapshot/erasure_code.h"
#include "snapshot/slot_layout.h"

namespace bulwark::snapshot {
namespace {

using namespace layout;

size_t AlignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

bool ValidJob(const std::string& job) {
  if (job.empty() || job.size() > 64) return false;
  for (char c : job) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

struct Mapping {
  void* ptr = nullptr;
  size_t bytes = 0;
};

// A test and fault-injection hook: SIGKILL this process after copying this many bytes.
int64_t CrashAfterBytes() {
  const char* v = std::getenv("BULWARK_SNAPSHOT_CRASH_AFTER_BYTES");
  return v ? std::atoll(v) : -1;
}

// How long a commit waits for the agent to release the older version (see Commit).
int64_t ReleaseWaitMs() {
  const char* v = std::getenv("BULWARK_SNAPSHOT_WAIT_MS");
  return v && *v ? std::atoll(v) : 30000;
}

}  // namespace

struct SnapshotClient::Impl {
  std::string base;  // "/<prefix>.<job>.r<rank>"
  uint64_t budget = 0;
  int control_fd = -1;
  ControlBlock* control = nullptr;
  int slot_fd[2] = {-1, -1};
  Mapping slot_map[2];
  uint64_t verified[2] = {0, 0};  // 1 + the step whose slot CRC was checked on restore
  // The snapshot being assembled.
  bool begun = false;
  uint64_t step = 0;
  struct Pending {
    std::string name;
    const void* data;
    size_t bytes;
  };
  std::vector<Pending> pending;
  std::set<std::string> names;

  std::string SlotName(int s) const { return base + SlotSuffix(s); }

  Status MapSlot(int s, size_t bytes, bool create) {
    Mapping& m = slot_map[s];
    if (m.ptr && m.bytes == bytes) return Status::Ok();
    if (m.ptr) munmap(m.ptr, m.bytes);
    m = {};
    if (slot_fd[s] < 0) {
      slot_fd[s] = shm_open(SlotName(s).c_str(), O_RDWR | (create ? O_CREAT : 0) | O_CLOEXEC, 0600);
      if (slot_fd[s] < 0) return Status::Error(Errno("cannot open snapshot memory " + SlotName(s)));
    }
    if (create && ftruncate(slot_fd[s], static_cast<off_t>(bytes)) != 0) {
      return Status::Error(Errno("cannot size snapshot memory " + SlotName(s) + " to " + std::to_string(bytes) + " bytes"));
    }
    struct stat st;
    if (fstat(slot_fd[s], &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
      return Status::Error("snapshot memory " + SlotName(s) + " is smaller than its control block says");
    }
    // Populated up front: faulting pages in one by one during the copy would double the stall.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, slot_fd[s], 0);
    if (p == MAP_FAILED) return Status::Error(Errno("cannot map snapshot memory " + SlotName(s)));
    m = {p, bytes};
    return Status::Ok();
  }

  // Under an agent, slot w may be overwritten only once the committed step is protected
  // cluster-wide: until then w may hold the job's only recovery point.
  // If the agent abandons the committed step instead (no other rank will ever protect it),
  // the older slot becomes the committed one again and *w the abandoned slot to write.
  Status WaitForRelease(int* w_out) {
    const int w = *w_out;
    const uint32_t c = control->committed.load(std::memory_order_acquire);
    if (!control->managed.load(std::memory_order_acquire) || c == 0 || control->slot[w].state != kComplete) {
      return Status::Ok();
    }
    const uint64_t need = control->slot[c - 1].step + 1;
    const int64_t wait_ms = ReleaseWaitMs();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (control->released.load(std::memory_order_acquire) < need) {
      if (control->abandoned.load(std::memory_order_acquire) == need) {
        // Back to the older version first: a crash while overwriting leaves it committed.
        control->committed.store(static_cast<uint32_t>(w + 1), std::memory_order_release);
        *w_out = static_cast<int>(c) - 1;
        return Status::Ok();
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Error("snapshot of step " + std::to_string(step) + " skipped: step " + std::to_string(need - 1) +
                             " is not protected cluster-wide after " + std::to_string(wait_ms) +
                             " ms, and overwriting step " + std::to_string(control->slot[w].step) +
                             " could lose the job's recovery point (both are kept)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return Status::Ok();
  }

  // The slot holding complete step `step`, preferring the committed one; -1 if none.
  int FindComplete(uint64_t want) const {
    const uint32_t c = control->committed.load(std::memory_order_acquire);
    for (int s : {static_cast<int>(c) - 1, 2 - static_cast<int>(c)}) {
      if (s < 0 || s > 1) continue;
      const SlotInfo& info = control->slot[s];
      if (info.state == kComplete && info.step == want) return s;
    }
    return -1;
  }

  // When the agent recorded the slot's CRC, every restored byte is checked against it (once
  // per slot and step): memory that rotted since the commit must not be trained on.
  Status VerifySlot(int s) {
    const SlotInfo& info = control->slot[s];
    if (info.crc_step.load(std::memory_order_acquire) != info.step + 1 || verified[s] == info.step + 1) return Status::Ok();
    if (Crc32c(slot_map[s].ptr, info.bytes) != info.crc) {
      return Status::Error("snapshot of step " + std::to_string(info.step) + " in " + SlotName(s) +
                           " fails its checksum: the memory was corrupted after the commit");
    }
    verified[s] = info.step + 1;
    return Status::Ok();
  }

  // The manifest of a complete slot, checked against the mapping before it is trusted.
  Result<std::vector<std::pair<std::string, ManifestEntry>>> ReadManifest(int s) {
    const SlotInfo& info = control->slot[s];
    if (Status st = MapSlot(s, info.bytes, false); !st.ok()) return st;
    const auto* base_ptr = static_cast<const uint8_t*>(slot_map[s].ptr);
    const std::string where = "snapshot of step " + std::to_string(info.step) + " in " + SlotName(s);
    if (info.bytes < sizeof(ManifestHeader)) return Status::Error(where + " is truncated");
    ManifestHeader h;
    std::memcpy(&h, base_ptr, sizeof(h));
    const uint64_t table = sizeof(ManifestHeader) + static_cast<uint64_t>(h.count) * sizeof(ManifestEntry);
    if (h.magic != kManifestMagic || h.step != info.step || h.count != info.buffers || table + h.names_bytes > info.bytes ||
        h.data_offset > info.bytes || h.total_bytes > info.bytes) {
      return Status::Error(where + " has a damaged manifest");
    }
    std::vector<std::pair<std::string, ManifestEntry>> out;
    const char* names = reinterpret_cast<const char*>(base_ptr + table);
    for (uint32_t i = 0; i < h.count; ++i) {
      ManifestEntry e;
      std::memcpy(&e, base_ptr + sizeof(ManifestHeader) + i * sizeof(ManifestEntry), sizeof(e));
      if (static_cast<uint64_t>(e.name_offset) + e.name_len > h.names_bytes || e.offset > info.bytes ||
          e.bytes > info.bytes - e.offset) {
        return Status::Error(where + " has a damaged manifest entry " + std::to_string(i));
      }
      out.emplace_back(std::string(names + e.name_offset, e.name_len), e);
    }
    return out;
  }
};

SnapshotClient::SnapshotClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SnapshotClient::~SnapshotClient() {
  for (int s = 0; s < 2; ++s) {
    if (impl_->slot_map[s].ptr) munmap(impl_->slot_map[s].ptr, impl_->slot_map[s].bytes);
    if (impl_->slot_fd[s] >= 0) close(impl_->slot_fd[s]);
  }
  if (impl_->control) munmap(impl_->control, kControlBytes);
  if (impl_->control_fd >= 0) close(impl_->control_fd);
}

Result<std::unique_ptr<SnapshotClient>> SnapshotClient::Open(const std::string& prefix, const std::string& job, int rank,
                                                             int world_size, uint64_t budget_bytes) {
  if (!ValidJob(prefix)) return Status::Error("snapshot prefix '" + prefix + "' must be letters, digits, '-', '_', '.'");
  if (!ValidJob(job)) return Status::Error("job id '" + job + "' must be 1-64 letters, digits, '-', '_', '.'");
  if (rank < 0) return Status::Error("rank " + std::to_string(rank) + " is negative");
  if (world_size < 0 || (world_size > 0 && rank >= world_size)) {
    return Status::Error("rank " + std::to_string(rank) + " is outside a world of " + std::to_string(world_size));
  }
  auto impl = std::make_unique<Impl>();
  impl->base = RankBase(prefix, job, rank);
  impl->budget = budget_bytes;
  const std::string ctl = impl->base + ".ctl";
  impl->control_fd = shm_open(ctl.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (impl->control_fd < 0) return Status::Error(Errno("cannot open snapshot control block " + ctl));
  struct stat st;
  if (fstat(impl->control_fd, &st) != 0) return Status::Error(Errno("cannot stat " + ctl));
  const bool fresh = st.st_size == 0;
  if (fresh && ftruncate(impl->control_fd, kControlBytes) != 0) return Status::Error(Errno("cannot size " + ctl));
  if (!fresh && static_cast<size_t>(st.st_size) < kControlBytes) {
    return Status::Error(ctl + " is " + std::to_string(st.st_size) + " bytes, not a snapshot control block");
  }
  void* p = mmap(nullptr, kControlBytes, PROT_READ | PROT_WRITE, MAP_SHARED, impl->control_fd, 0);
  if (p == MAP_FAILED) return Status::Error(Errno("cannot map " + ctl));
  impl->control = static_cast<ControlBlock*>(p);
  if (fresh || impl->control->magic == 0) {
    impl->control->version = kVersion;
    impl->control->magic = kControlMagic;
  } else if (impl->control->magic != kControlMagic) {
    return Status::Error(ctl + " is not a snapshot control block (bad magic)");
  } else if (impl->control->version != kVersion) {
    return Status::Error(ctl + " has version " + std::to_string(impl->control->version) + ", this client reads " +
                         std::to_string(kVersion));
  }
  if (world_size > 0) impl->control->world_size = world_size;
  return std::unique_ptr<SnapshotClient>(new SnapshotClient(std::move(impl)));
}

void SnapshotClient::Remove(const std::string& prefix, const std::string& job, int rank) {
  const std::string base = RankBase(prefix, job, rank);
  for (const char* suffix : {".ctl", ".a", ".b"}) shm_unlink((base + suffix).c_str());
}

Status SnapshotClient::Begin(uint64_t step) {
  Impl& m = *impl_;
  if (m.begun) {
    return Status::Error("snapshot of step " + std::to_string(step) + " begun while step " + std::to_string(m.step) +
                         " is not committed");
  }
  m.begun = true;
  m.step = step;
  m.pending.clear();
  m.names.clear();
  return Status::Ok();
}

Status SnapshotClient::Add(const std::string& name, const void* data, size_t bytes) {
  Impl& m = *impl_;
  if (!m.begun) return Status::Error("buffer '" + name + "' added outside a snapshot (call Begin first)");
  if (name.empty()) return Status::Error("a buffer needs a name");
  if (!data && bytes > 0) return Status::Error("buffer '" + name + "' has no data");
  if (!m.names.insert(name).second) return Status::Error("buffer '" + name + "' added twice to step " + std::to_string(m.step));
  m.pending.push_back({name, data, bytes});
  return Status::Ok();
}

Status SnapshotClient::Commit() {
  Impl& m = *impl_;
  if (!m.begun) return Status::Error("commit without a snapshot begun");
  m.begun = false;
  // Layout: manifest header, entries, names, then each buffer 64-byte aligned.
  size_t names_bytes = 0;
  for (const auto& p : m.pending) names_bytes += p.name.size();
  const size_t table = sizeof(ManifestHeader) + m.pending.size() * sizeof(ManifestEntry);
  size_t offset = AlignUp(table + names_bytes);
  const size_t data_offset = offset;
  std::vector<ManifestEntry> entries;
  uint32_t name_at = 0;
  for (const auto& p : m.pending) {
    entries.push_back({offset, p.bytes, name_at, static_cast<uint32_t>(p.name.size())});
    name_at += static_cast<uint32_t>(p.name.size());
    offset = AlignUp(offset + p.bytes);
  }
  const size_t total = std::max(offset, kAlign);
  const uint32_t committed = m.control->committed.load(std::memory_order_acquire);
  const std::string kept = committed ? " (step " + std::to_string(m.control->slot[committed - 1].step) + " is kept)" : "";
  if (m.budget && total > m.budget) {
    return Status::Error("snapshot of step " + std::to_string(m.step) + " needs " + std::to_string(total) +
                         " bytes, over the budget of " + std::to_string(m.budget) + kept);
  }
  int w = committed == 1 ? 1 : 0;  // the slot that is not the committed one
  if (Status st = m.WaitForRelease(&w); !st.ok()) return st;
  SlotInfo& info = m.control->slot[w];
  info.crc_step.store(0, std::memory_order_relaxed);
  info.state = kWriting;
  std::atomic_thread_fence(std::memory_order_release);
  if (Status st = m.MapSlot(w, total, true); !st.ok()) {
    info.state = kEmpty;
    return Status::Error(st.message() + kept);
  }
  auto* base = static_cast<uint8_t*>(m.slot_map[w].ptr);
  ManifestHeader h{kManifestMagic, m.step, static_cast<uint32_t>(m.pending.size()), static_cast<uint32_t>(names_bytes),
                   data_offset, total};
  std::memcpy(base, &h, sizeof(h));
  std::memcpy(base + sizeof(h), entries.data(), entries.size() * sizeof(ManifestEntry));
  char* names = reinterpret_cast<char*>(base + table);
  for (const auto& p : m.pending) {
    std::memcpy(names, p.name.data(), p.name.size());
    names += p.name.size();
  }
  const int64_t crash_after = CrashAfterBytes();
  int64_t copied = 0;
  for (size_t i = 0; i < m.pending.size(); ++i) {
    std::memcpy(base + entries[i].offset, m.pending[i].data, m.pending[i].bytes);
    copied += static_cast<int64_t>(m.pending[i].bytes);
    if (crash_after >= 0 && copied >= crash_after) kill(getpid(), SIGKILL);
  }
  info.step = m.step;
  info.bytes = total;
  info.buffers = static_cast<uint32_t>(m.pending.size());
  info.state = kComplete;
  // The one store that makes the new version the committed one.
  m.control->committed.store(static_cast<uint32_t>(w + 1), std::memory_order_release);
  m.pending.clear();
  return Status::Ok();
}

std::optional<uint64_t> SnapshotClient::Latest() const {
  const uint32_t c = impl_->control->committed.load(std::memory_order_acquire);
  if (c == 0 || c > 2) return std::nullopt;
  return impl_->control->slot[c - 1].step;
}

Status SnapshotClient::RollBackTo(uint64_t step) {
  Impl& m = *impl_;
  const int s = m.FindComplete(step);
  if (s < 0) return Status::Error("no restorable snapshot of step " + std::to_string(step) + " in " + m.base);
  SlotInfo& other = m.control->slot[1 - s];
  if (other.state == kComplete && other.step > step) other.state = kEmpty;
  m.control->committed.store(static_cast<uint32_t>(s + 1), std::memory_order_release);
  // What was released past `step` belonged to the run rolled back over.
  uint64_t released = m.control->released.load(std::memory_order_acquire);
  while (released > step + 1 && !m.control->released.compare_exchange_weak(released, step + 1)) {
  }
  return Status::Ok();
}

void SnapshotClient::Discard() {
  Impl& m = *impl_;
  m.control->committed.store(0, std::memory_order_release);
  for (auto& slot : m.control->slot) slot.state = kEmpty;
  m.control->released.store(0, std::memory_order_release);
}

Result<std::vector<std::pair<std::string, uint64_t>>> SnapshotClient::List(uint64_t step) const {
  const int s = impl_->FindComplete(step);
  if (s < 0) return Status::Error("no restorable snapshot of step " + std::to_string(step) + " in " + impl_->base);
  auto manifest = impl_->ReadManifest(s);
  if (!manifest.ok()) return manifest.status();
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [name, e] : *manifest) out.emplace_back(name, e.bytes);
  return out;
}

Status SnapshotClient::Restore(uint64_t step, const std::string& name, void* out, size_t bytes) const {
  const int s = impl_->FindComplete(step);
  if (s < 0) return Status::Error("no restorable snapshot of step " + std::to_string(step) + " in " + impl_->base);
  auto manifest = impl_->ReadManifest(s);
  if (!manifest.ok()) return manifest.status();
  for (const auto& [n, e] : *manifest) {
    if (n != name) continue;
    if (e.bytes != bytes) {
      return Status::Error("buffer '" + name + "' of step " + std::to_string(step) + " holds " + std::to_string(e.bytes) +
                           " bytes, not " + std::to_string(bytes));
    }
    if (Status st = impl_->VerifySlot(s); !st.ok()) return st;
    std::memcpy(out, static_cast<const uint8_t*>(impl_->slot_map[s].ptr) + e.offset, bytes);
    return Status::Ok();
  }
  return Status::Error("step " + std::to_string(step) + " has no buffer '" + name + "'");
}

}  // namespace bulwark::snapshot
