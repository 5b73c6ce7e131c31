#include "controller/state_store.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace bulwark::controller {
namespace {

// Column families, in handle order. "default" holds store metadata (the schema version).
// Spelled out rather than copied from rocksdb::kDefaultColumnFamilyName: that is a global
// of the shared library, not yet constructed when this one is.
// Families are opened by name, so one added before "events" finds an older store's events.
const char* const kFamilies[] = {"default", "nodes", "jobs", "incidents", "snapshots", "injections", "plans", "fabric", "events"};
constexpr size_t kEventsFamily = 8;
const char* kSchemaKey = "schema_version";

// Free space under the store (blocks reserved for root included when running as root):
// unknown counts as plenty, so a statvfs failure never stops writes by itself.
uint64_t FreeBytes(const std::string& dir) {
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(::geteuid() == 0 ? fs.f_bfree : fs.f_bavail) * fs.f_frsize;
}

// Big-endian, so RocksDB's byte order is numeric order.
std::string EventKey(uint64_t id) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(id & 0xFF);
    id >>= 8;
  }
  return k;
}

uint64_t EventId(const rocksdb::Slice& key) {
  uint64_t id = 0;
  for (size_t i = 0; i < key.size() && i < 8; ++i) id = (id << 8) | static_cast<unsigned char>(key[i]);
  return id;
}

}  // namespace

const char* RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kNodes: return "nodes";
    case RecordKind::kJobs: return "jobs";
    case RecordKind::kIncidents: return "incidents";
    case RecordKind::kSnapshots: return "snapshots";
    case RecordKind::kInjections: return "injections";
    case RecordKind::kPlans: return "plans";
    case RecordKind::kFabric: return "fabric";
  }
  return "?";
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  // No preallocated write-ahead log: with ~70 MB reserved up front, a full disk would let
  // writes go on until a flush fails much later; without it a full disk refuses the very
  // write that needs space, which the API reports (and Commit resumes after).
  options.allow_fallocate = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : kFamilies) families.emplace_back(name, rocksdb::ColumnFamilyOptions());

  std::unique_ptr<StateStore> store(new StateStore());
  store->dir_ = dir;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, families, &store->handles_, &raw);
  if (!s.ok()) return Status::Error("cannot open state store in " + dir + ": " + s.ToString());
  store->db_.reset(raw);

  std::string version;
  s = store->db_->Get(rocksdb::ReadOptions(), store->handles_[0], kSchemaKey, &version);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = store->db_->Put(sync, store->handles_[0], kSchemaKey, std::to_string(kSchemaVersion));
    if (!s.ok()) return Status::Error("cannot write schema version in " + dir + ": " + s.ToString());
  } else if (!s.ok()) {
    return Status::Error("cannot read schema version in " + dir + ": " + s.ToString());
  } else if (version != std::to_string(kSchemaVersion)) {
    return Status::Error("state store in " + dir + " has schema version " + version +
                         "; this controller understands version " + std::to_string(kSchemaVersion));
  }

  std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator(rocksdb::ReadOptions(), store->handles_[kEventsFamily]));
  it->SeekToLast();
  if (it->Valid()) store->last_event_id_ = EventId(it->key());
  return store;
}

StateStore::~StateStore() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  db_->Close();
}

rocksdb::ColumnFamilyHandle* StateStore::Handle(RecordKind kind) const {
  return handles_[1 + static_cast<size_t>(kind)];
}

Result<std::vector<uint64_t>> StateStore::Commit(const std::vector<RecordChange>& changes,
                                                 const std::vector<std::string>& events, bool sync) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  rocksdb::WriteBatch batch;
  for (const auto& c : changes) {
    rocksdb::Status s = c.value ? batch.Put(Handle(c.kind), c.key, *c.value) : batch.Delete(Handle(c.kind), c.key);
    if (!s.ok()) return Status::Error(std::string("cannot stage change to ") + RecordKindName(c.kind) + "/" + c.key);
  }
  std::vector<uint64_t> ids;
  uint64_t next = last_event_id_;
  for (const auto& body : events) {
    ids.push_back(++next);
    batch.Put(handles_[kEventsFamily], EventKey(next), body);
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  // A write-ahead-log append that fails for lack of space is fatal in Debian's RocksDB 7.8
  // (the next append asserts: fixed upstream in 9.x, facebook/rocksdb#12448), so a write
  // that could run out of space is refused before RocksDB sees it, with a reserve kept for
  // the flushes and compactions that follow. Nothing stored is touched; writes go on once
  // space is freed.
  const uint64_t free = FreeBytes(dir_);
  if (free < kReserveBytes + batch.GetDataSize()) {
    return Status::Error("the disk under the state store (" + dir_ + ") has " + std::to_string(free >> 10) +
                         " KiB free, below the " + std::to_string(kReserveBytes >> 20) +
                         " MiB kept in reserve: nothing more is stored until space is freed, and nothing stored is lost");
  }
  rocksdb::Status s = db_->Write(options, &batch);
  if (!s.ok()) {
    // A background error (a flush that failed) stops writes until resumed; resuming
    // succeeds once its cause is gone, and then the write is tried once more.
    if (db_->Resume().ok()) s = db_->Write(options, &batch);
    if (!s.ok()) return Status::Error("state store write failed: " + s.ToString());
  }
  last_event_id_ = next;  // only once the batch is durable: a failed write reuses no id
  return ids;
}

std::optional<std::string> StateStore::Get(RecordKind kind, const std::string& key) const {
  std::string value;
  if (db_->Get(rocksdb::ReadOptions(), Handle(kind), key, &value).ok()) return value;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> StateStore::List(RecordKind kind) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(kind)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out.emplace_back(it->key().ToString(), it->value().ToString());
  return out;
}

std::vector<StoredEvent> StateStore::EventsAfter(uint64_t after, size_t limit) const {
  std::vector<StoredEvent> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kEventsFamily]));
  for (it->Seek(EventKey(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    out.push_back({EventId(it->key()), it->value().ToString()});
  }
  return out;
}

uint64_t StateStore::last_event_id() const {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  return last_event_id_;
}

}  // namespace bulwark::controller
