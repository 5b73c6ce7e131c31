#include "snapshot/parity_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <regex>

#include "snapshot/erasure_code.h"

namespace bulwark::snapshot {

struct ParityStore::Version {
  ParityKey key;
  int k = 0, m = 0, members = 0;
  std::vector<ShardInfo> shards;                        // k entries; rank -1 until its member sends
  std::vector<std::map<uint64_t, uint64_t>> received;  // per block: chunk offset -> length
  std::vector<uint64_t> received_bytes;
  std::string name;  // shm object name
  int fd = -1;
  uint8_t* map = nullptr;
  size_t mapped = 0;
  uint64_t payload_bytes = 0;
  bool sealed = false;
  bool dropped = false;
  std::string superseded;  // why it can never seal: a missing member moved on to a newer step
  FragmentHeader header;

  ~Version() {
    if (map) munmap(map, mapped);
    if (fd >= 0) close(fd);
  }
  uint8_t* payload() { return map + kFragmentHeaderBytes; }
  bool BlockDone(int b) const { return shards[b].rank >= 0 && received_bytes[b] == shards[b].bytes; }
};

namespace {

std::string Describe(const ParityKey& k) {
  return "parity " + std::to_string(k.index) + " of group " + std::to_string(k.group) + ", job " + k.job + " step " +
         std::to_string(k.step);
}

std::string ObjectName(const std::string& prefix, const ParityKey& k) {
  return "/" + prefix + "." + k.job + ".g" + std::to_string(k.group) + ".p" + std::to_string(k.index) + ".s" +
         std::to_string(k.step);
}

void XorInto(uint8_t* dst, const uint8_t* src, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, dst + i, 8);
    std::memcpy(&b, src + i, 8);
    a ^= b;
    std::memcpy(dst + i, &a, 8);
  }
  for (; i < len; ++i) dst[i] ^= src[i];
}

// Grows the version's shared-memory file and mapping to hold `payload` bytes.
Status Grow(ParityStore::Version& v, uint64_t payload) {
  const size_t want = kFragmentHeaderBytes + payload;
  if (ftruncate(v.fd, static_cast<off_t>(want)) != 0) {
    return Status::Error("cannot grow " + v.name + " to " + std::to_string(want) + " bytes: " + std::strerror(errno));
  }
  void* p = v.map ? mremap(v.map, v.mapped, want, MREMAP_MAYMOVE)
                  : mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd, 0);
  if (p == MAP_FAILED) return Status::Error("cannot map " + v.name + ": " + std::strerror(errno));
  v.map = static_cast<uint8_t*>(p);
  v.mapped = want;
  v.payload_bytes = payload;
#ifdef MADV_POPULATE_WRITE
  // One call faults in every page: page by page during the XOR costs several times more
  // (each fault is a trap, and a VM exit under some hypervisors). Best effort.
  madvise(v.map, v.mapped, MADV_POPULATE_WRITE);
#endif
  return Status::Ok();
}

}  // namespace

ParityStore::ParityStore(std::string prefix, uint64_t budget_bytes) : prefix_(std::move(prefix)), budget_(budget_bytes) {}

ParityStore::~ParityStore() = default;

void ParityStore::Load() {
  DIR* dir = opendir("/dev/shm");
  if (!dir) return;
  const std::string head = prefix_ + ".";
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    const std::string n = e->d_name;
    static const std::regex kParityName(R"(.*\.g[0-9]+\.p[0-9]+\.s[0-9]+)");
    if (n.compare(0, head.size(), head) == 0 && std::regex_match(n, kParityName)) names.push_back("/" + n);
  }
  closedir(dir);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& name : names) {
    auto v = std::make_shared<Version>();
    v->name = name;
    v->fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    struct stat st;
    if (v->fd < 0 || fstat(v->fd, &st) != 0 || static_cast<size_t>(st.st_size) < kFragmentHeaderBytes) {
      shm_unlink(name.c_str());
      continue;
    }
    void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (p == MAP_FAILED) continue;
    v->map = static_cast<uint8_t*>(p);
    v->mapped = st.st_size;
    auto header = ParseHeader(v->map, kFragmentHeaderBytes);
    if (!header.ok() || header->fragment_bytes + kFragmentHeaderBytes != v->mapped ||
        ObjectName(prefix_, {header->job, header->step, header->group, header->index}) != name) {
      shm_unlink(name.c_str());  // unsealed or foreign: it can never complete now
      continue;
    }
    v->header = header.value();
    v->key = {v->header.job, v->header.step, v->header.group, v->header.index};
    v->k = v->header.k;
    v->m = v->header.m;
    v->payload_bytes = v->header.fragment_bytes;
    v->sealed = true;
    held_ += v->mapped;
    versions_[v->key] = v;
  }
}

std::shared_ptr<ParityStore::Version> ParityStore::Create(const ParityKey& key, const ContributionInfo& info, Status* error) {
  // Older steps of the same parity block: all but the newest sealed one go (it is the
  // recovery point until this step is sealed). Newer steps stay: members of a group may be a
  // step apart, and one still protecting T-1 must not wipe another's T.
  std::vector<ParityKey> victims;
  bool kept_older = false;
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {  // newest step first
    const ParityKey& other = it->first;
    if (other.job != key.job || other.group != key.group || other.index != key.index) continue;
    if (other.step < key.step) {
      if (it->second->sealed && !kept_older) {
        kept_older = true;
      } else {
        victims.push_back(other);
      }
    }
  }
  for (const auto& victim : victims) Drop(victim);
  if (budget_ && held_ + kFragmentHeaderBytes > budget_) {
    *error = Status::Error(Describe(key) + ": over the snapshot memory budget of " + std::to_string(budget_) + " bytes (" +
                           std::to_string(held_) + " held); older versions are kept");
    return nullptr;
  }
  auto v = std::make_shared<Version>();
  v->key = key;
  v->k = info.k;
  v->m = info.m;
  v->members = info.members;
  v->shards.assign(info.k, ShardInfo{});
  v->received.resize(info.k);
  v->received_bytes.assign(info.k, 0);
  v->name = ObjectName(prefix_, key);
  shm_unlink(v->name.c_str());
  v->fd = shm_open(v->name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (v->fd < 0) {
    *error = Status::Error("cannot create " + v->name + ": " + std::strerror(errno));
    return nullptr;
  }
  if (Status s = Grow(*v, 0); !s.ok()) {
    shm_unlink(v->name.c_str());
    *error = s;
    return nullptr;
  }
  held_ += v->mapped;
  versions_[key] = v;
  return v;
}

void ParityStore::Drop(const ParityKey& key) {
  auto it = versions_.find(key);
  if (it == versions_.end()) return;
  it->second->dropped = true;
  held_ -= it->second->mapped;
  shm_unlink(it->second->name.c_str());
  versions_.erase(it);  // readers holding the shared_ptr keep the mapping until they finish
  changed_.notify_all();
}

Status ParityStore::Add(const ParityKey& key, const ContributionInfo& info, uint64_t offset, const uint8_t* data, size_t len) {
  const std::string what = Describe(key);
  if (info.k < 1 || info.k > kMaxGroupData || info.m < 1 || key.index < info.k || key.index >= info.k + info.m ||
      info.block < 0 || info.block >= info.members || info.members > info.k) {
    return Status::Error(what + ": contribution of block " + std::to_string(info.block) + " does not fit RS(" +
                         std::to_string(info.k) + "," + std::to_string(info.m) + ") with " + std::to_string(info.members) +
                         " members");
  }
  if (offset > info.shard.bytes || len > info.shard.bytes - offset) {
    return Status::Error(what + ": chunk [" + std::to_string(offset) + ", +" + std::to_string(len) + ") is outside block " +
                         std::to_string(info.block) + "'s shard of " + std::to_string(info.shard.bytes) + " bytes");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  DropSuperseded(key, info.block);
  auto it = versions_.find(key);
  std::shared_ptr<Version> v = it == versions_.end() ? nullptr : it->second;
  if (v && (v->k != info.k || v->m != info.m || v->members != info.members ||
            (v->shards[info.block].rank >= 0 && !(v->shards[info.block] == info.shard)))) {
    Drop(key);  // a member's shard changed under the same step: start this version over
    v = nullptr;
  }
  if (!v) {
    Status error = Status::Ok();
    v = Create(key, info, &error);
    if (!v) return error;
  }
  if (v->sealed) return Status::Ok();  // everything is in: a late resend
  if (v->shards[info.block].rank < 0) v->shards[info.block] = info.shard;
  auto& got = v->received[info.block];
  auto at = got.find(offset);
  if (at != got.end()) {
    if (at->second == len) return Status::Ok();  // a resend of a chunk already XORed in
    return Status::Error(what + ": chunk at " + std::to_string(offset) + " of block " + std::to_string(info.block) +
                         " arrived again with another length");
  }
  if (info.shard.bytes > v->payload_bytes) {
    const uint64_t grow = info.shard.bytes - v->payload_bytes;
    if (budget_ && held_ + grow > budget_) {
      return Status::Error(what + ": over the snapshot memory budget of " + std::to_string(budget_) + " bytes (" +
                           std::to_string(held_) + " held, " + std::to_string(grow) + " more needed); older versions are kept");
    }
    held_ -= v->mapped;
    Status s = Grow(*v, info.shard.bytes);
    held_ += v->mapped;
    if (!s.ok()) return s;
  }
  XorInto(v->payload() + offset, data, len);
  got[offset] = len;
  v->received_bytes[info.block] += len;
  bool all = true;
  for (int b = 0; b < v->members; ++b) all = all && v->BlockDone(b);
  if (all) Seal(*v);
  return Status::Ok();
}

// Agents protect a job's steps in order, so a member contributing step S has given up every
// older step it had not finished sending: an older version of the same parity that still
// lacks that member's block can never seal. Its waiters learn so now, not at their timeout
// (on the local cluster, members that disagreed on a step waited 60 s per parity block while
// the trainers, unreleased, skipped snapshots).
void ParityStore::DropSuperseded(const ParityKey& newer, int block) {
  std::vector<ParityKey> stale;
  for (const auto& [key, v] : versions_) {
    if (key.job == newer.job && key.group == newer.group && key.index == newer.index && key.step < newer.step &&
        !v->sealed && block < v->members && !v->BlockDone(block)) {
      v->superseded = "block " + std::to_string(block) + "'s member moved on to step " + std::to_string(newer.step) +
                      " without finishing this one";
      stale.push_back(key);
    }
  }
  for (const auto& key : stale) Drop(key);
}

void ParityStore::Seal(Version& v) {
  FragmentHeader& h = v.header;
  h.job = v.key.job;
  h.step = v.key.step;
  h.group = v.key.group;
  h.index = v.key.index;
  h.k = v.k;
  h.m = v.m;
  h.fragment_bytes = v.payload_bytes;
  h.fragment_crc = Crc32c(v.payload(), v.payload_bytes);
  h.shards = v.shards;
  auto bytes = SerializeHeader(h);
  if (bytes.ok()) std::memcpy(v.map, bytes->data(), kFragmentHeaderBytes);
  v.sealed = bytes.ok();
  v.received.clear();
  changed_.notify_all();
}

Status ParityStore::WaitSealed(const ParityKey& key, const ContributionInfo& info, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = versions_.find(key);
  if (it == versions_.end()) return Status::Error(Describe(key) + " holds nothing of block " + std::to_string(info.block) + "; resend");
  std::shared_ptr<Version> v = it->second;
  if (!v->sealed && !v->BlockDone(info.block)) {
    return Status::Error(Describe(key) + ": block " + std::to_string(info.block) + " is incomplete (" +
                         std::to_string(v->received_bytes[info.block]) + " of " + std::to_string(info.shard.bytes) +
                         " bytes); resend");
  }
  const bool done = changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return v->sealed || v->dropped; });
  if (!v->superseded.empty()) return Status::Error(Describe(key) + " can never seal: " + v->superseded);
  if (v->dropped && !v->sealed) return Status::Error(Describe(key) + " was reset (a member sent a different shard); resend");
  if (!done) return Status::Error(Describe(key) + ": not every member's contribution arrived within " + std::to_string(timeout_ms) + " ms");
  return Status::Ok();
}

Status ParityStore::Read(const ParityKey& key, const std::function<Status(const FragmentHeader&, const uint8_t*)>& read) {
  std::shared_ptr<Version> v;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = versions_.find(key);
    if (it == versions_.end() || !it->second->sealed) return Status::Error("this node holds no sealed " + Describe(key));
    v = it->second;
  }
  return read(v->header, v->payload());
}

uint64_t ParityStore::bytes_held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

size_t ParityStore::sealed_versions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [k, v] : versions_) n += v->sealed;
  return n;
}

}  // namespace bulwark::snapshot
