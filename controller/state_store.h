// The controller's durable state, in RocksDB: one column family per kind of record, a
// schema version, and an append-only event log with monotonically increasing ids.
//
// Every change goes through Commit(): all of a commit's records and events land in one
// RocksDB write batch, so a crash (kill -9 included) leaves either all of it or none of it.
// Commits that carry verdicts or incident transitions ask for `sync`, which fsyncs the
// write-ahead log before returning, so they survive a power loss too; a plain commit
// survives a process crash once it returns (the WAL is in the kernel's page cache).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace bulwark::controller {

// kPlans: each job's traffic plan; kFabric: the fabric links reported down (traffic_plans.h).
enum class RecordKind { kNodes, kJobs, kIncidents, kSnapshots, kInjections, kPlans, kFabric };
const char* RecordKindName(RecordKind kind);

struct RecordChange {
  RecordKind kind;
  std::string key;
  std::optional<std::string> value;  // nullopt deletes the record
};

struct StoredEvent {
  uint64_t id = 0;
  std::string body;  // JSON, as given
};

class StateStore {
 public:
  static constexpr uint32_t kSchemaVersion = 1;
  // Free space a commit leaves on the store's filesystem, or it is refused (see Commit).
  static constexpr uint64_t kReserveBytes = 8ull << 20;

  // Opens or creates the store in `dir`. Refuses a store written with another schema version.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Applies the changes and appends the events atomically. Returns the events' ids, or an
  // error (nothing applied) when the store's disk has less than kReserveBytes free.
  Result<std::vector<uint64_t>> Commit(const std::vector<RecordChange>& changes,
                                       const std::vector<std::string>& events, bool sync);

  std::optional<std::string> Get(RecordKind kind, const std::string& key) const;
  // All records of a kind, in key order.
  std::vector<std::pair<std::string, std::string>> List(RecordKind kind) const;
  // Events with id > after, oldest first, at most `limit`.
  std::vector<StoredEvent> EventsAfter(uint64_t after, size_t limit) const;
  uint64_t last_event_id() const;

 private:
  StateStore() = default;
  rocksdb::ColumnFamilyHandle* Handle(RecordKind kind) const;

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // [default, nodes, ..., fabric, events]
  mutable std::mutex commit_mutex_;                    // orders event ids with their batches
  uint64_t last_event_id_ = 0;
};

}  // namespace bulwark::controller
