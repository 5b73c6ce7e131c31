#include "snapshot/rank_slots.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "snapshot/erasure_code.h"
#include "snapshot/slot_layout.h"
#include "snapshot/snapshot_client.h"

namespace bulwark::snapshot {
namespace {

using namespace layout;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

ControlBlock* Control(void* p) { return static_cast<ControlBlock*>(p); }

}  // namespace

Result<std::unique_ptr<RankSlots>> RankSlots::Open(const std::string& prefix, const std::string& job, int rank) {
  std::unique_ptr<RankSlots> r(new RankSlots());
  r->base_ = RankBase(prefix, job, rank);
  r->rank_ = rank;
  const std::string ctl = r->base_ + ".ctl";
  r->control_fd_ = shm_open(ctl.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (r->control_fd_ < 0) return Status::Error(Errno("cannot open snapshot control block " + ctl));
  struct stat st;
  if (fstat(r->control_fd_, &st) != 0 || static_cast<size_t>(st.st_size) < kControlBytes) {
    return Status::Error(ctl + " is not a snapshot control block (too small)");
  }
  void* p = mmap(nullptr, kControlBytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->control_fd_, 0);
  if (p == MAP_FAILED) return Status::Error(Errno("cannot map " + ctl));
  r->control_ = p;
  if (Control(p)->magic != kControlMagic || Control(p)->version != kVersion) {
    return Status::Error(ctl + " is not a version " + std::to_string(kVersion) + " snapshot control block");
  }
  return r;
}

RankSlots::~RankSlots() {
  for (int s = 0; s < 2; ++s) {
    if (slot_map_[s]) munmap(slot_map_[s], slot_len_[s]);
    if (slot_fd_[s] >= 0) close(slot_fd_[s]);
  }
  if (control_) munmap(control_, kControlBytes);
  if (control_fd_ >= 0) close(control_fd_);
}

int RankSlots::world_size() const { return Control(control_)->world_size; }

std::optional<uint64_t> RankSlots::Committed() const {
  const ControlBlock* c = Control(control_);
  const uint32_t at = c->committed.load(std::memory_order_acquire);
  if (at == 0 || at > 2 || c->slot[at - 1].state != kComplete) return std::nullopt;
  return c->slot[at - 1].step;
}

int RankSlots::FindComplete(uint64_t step) const {
  const ControlBlock* c = Control(control_);
  for (int s = 0; s < 2; ++s) {
    if (c->slot[s].state == kComplete && c->slot[s].step == step) return s;
  }
  return -1;
}

std::vector<uint64_t> RankSlots::Steps() const {
  const ControlBlock* c = Control(control_);
  std::vector<uint64_t> out;
  for (int s = 0; s < 2; ++s) {
    if (c->slot[s].state == kComplete) out.push_back(c->slot[s].step);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool RankSlots::Holds(uint64_t step) const { return FindComplete(step) >= 0; }

Result<SlotBytes> RankSlots::View(uint64_t step) {
  const int s = FindComplete(step);
  if (s < 0) return Status::Error(base_ + " holds no complete snapshot of step " + std::to_string(step));
  const size_t bytes = Control(control_)->slot[s].bytes;
  if (!slot_map_[s] || slot_len_[s] != bytes) {
    if (slot_map_[s]) munmap(slot_map_[s], slot_len_[s]);
    slot_map_[s] = nullptr;
    const std::string name = base_ + SlotSuffix(s);
    if (slot_fd_[s] < 0) slot_fd_[s] = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (slot_fd_[s] < 0) return Status::Error(Errno("cannot open " + name));
    struct stat st;
    if (fstat(slot_fd_[s], &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
      return Status::Error(name + " is shorter than its control block says");
    }
    void* p = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, slot_fd_[s], 0);
    if (p == MAP_FAILED) return Status::Error(Errno("cannot map " + name));
    slot_map_[s] = p;
    slot_len_[s] = bytes;
  }
  return SlotBytes{static_cast<const uint8_t*>(slot_map_[s]), bytes};
}

Result<uint32_t> RankSlots::Checksum(uint64_t step) {
  auto view = View(step);
  if (!view.ok()) return view.status();
  SlotInfo& info = Control(control_)->slot[FindComplete(step)];
  if (info.crc_step.load(std::memory_order_acquire) == step + 1) return info.crc;
  const uint32_t crc = Crc32c(view->data, view->bytes);
  info.crc = crc;
  info.crc_step.store(step + 1, std::memory_order_release);
  return crc;
}

void RankSlots::Manage() { Control(control_)->managed.store(1, std::memory_order_release); }

void RankSlots::Release(uint64_t step) {
  auto& released = Control(control_)->released;
  uint64_t seen = released.load(std::memory_order_acquire);
  while (seen < step + 1 && !released.compare_exchange_weak(seen, step + 1, std::memory_order_acq_rel)) {
  }
}

void RankSlots::Abandon(uint64_t step) { Control(control_)->abandoned.store(step + 1, std::memory_order_release); }

Status RankSlots::Install(const std::string& prefix, const std::string& job, int rank, int world_size, uint64_t step,
                          const uint8_t* data, size_t bytes, uint32_t crc) {
  // The client's Open creates and initialises the control block the same way a trainer would.
  auto client = SnapshotClient::Open(prefix, job, rank, world_size);
  if (!client.ok()) return client.status();
  auto slots = Open(prefix, job, rank);
  if (!slots.ok()) return slots.status();
  ControlBlock* c = Control((*slots)->control_);
  const uint32_t committed = c->committed.load(std::memory_order_acquire);
  const int w = committed == 1 ? 1 : 0;
  SlotInfo& info = c->slot[w];
  info.crc_step.store(0);
  info.state = kWriting;
  const std::string name = (*slots)->base_ + SlotSuffix(w);
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(Errno("cannot create " + name));
  Status st = Status::Ok();
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    st = Status::Error(Errno("cannot size " + name + " to " + std::to_string(bytes) + " bytes"));
  } else if (bytes > 0) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      st = Status::Error(Errno("cannot map " + name));
    } else {
      std::memcpy(p, data, bytes);
      munmap(p, bytes);
    }
  }
  close(fd);
  if (!st.ok()) {
    info.state = kEmpty;
    return st;
  }
  ManifestHeader h;
  std::memcpy(&h, data, std::min(bytes, sizeof(h)));
  info.step = step;
  info.bytes = bytes;
  info.buffers = bytes >= sizeof(h) ? h.count : 0;
  info.crc = crc;
  info.crc_step.store(step + 1);
  info.state = kComplete;
  SlotInfo& other = c->slot[1 - w];
  if (other.state == kComplete && other.step >= step) other.state = kEmpty;
  c->committed.store(static_cast<uint32_t>(w + 1), std::memory_order_release);
  return Status::Ok();
}

std::vector<std::pair<std::string, int>> FindRanks(const std::string& prefix) {
  std::vector<std::pair<std::string, int>> out;
  DIR* dir = opendir("/dev/shm");
  if (!dir) return out;
  const std::string head = prefix + ".";
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() <= head.size() + 4 || name.compare(0, head.size(), head) != 0) continue;
    if (name.compare(name.size() - 4, 4, ".ctl") != 0) continue;
    const std::string rest = name.substr(head.size(), name.size() - head.size() - 4);  // <job>.r<rank>
    const size_t dot = rest.rfind(".r");
    if (dot == std::string::npos || dot == 0 || dot + 2 >= rest.size()) continue;
    const std::string digits = rest.substr(dot + 2);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    out.emplace_back(rest.substr(0, dot), std::stoi(digits));
  }
  closedir(dir);
  return out;
}

}  // namespace bulwark::snapshot
