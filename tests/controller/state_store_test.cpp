#include "controller/state_store.h"

#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

TEST(StateStoreTest, CommitsAreReadBackAfterReopen) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  {
    auto store = StateStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto ids = store.value()->Commit({{RecordKind::kNodes, "node-a", R"({"health":"healthy"})"},
                                      {RecordKind::kJobs, "job-1", R"({"state":"running"})"}},
                                     {R"({"type":"node_registered"})", R"({"type":"job_submitted"})"}, true);
    ASSERT_TRUE(ids.ok()) << ids.status().message();
    EXPECT_EQ(ids.value(), (std::vector<uint64_t>{1, 2}));
  }
  auto store = StateStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(store.value()->Get(RecordKind::kNodes, "node-a"), R"({"health":"healthy"})");
  EXPECT_EQ(store.value()->Get(RecordKind::kJobs, "job-1"), R"({"state":"running"})");
  EXPECT_FALSE(store.value()->Get(RecordKind::kIncidents, "node-a").has_value());  // kinds are separate
  EXPECT_EQ(store.value()->last_event_id(), 2u);
}

TEST(StateStoreTest, EventIdsKeepIncreasingAcrossReopens) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  for (int round = 0; round < 3; ++round) {
    auto store = StateStore::Open(dir);
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(store.value()->Commit({}, {"{}"}, false).ok());
  }
  auto store = StateStore::Open(dir);
  EXPECT_EQ(store.value()->last_event_id(), 900u);
  // Past 255 the big-endian keys must still sort numerically.
  auto events = store.value()->EventsAfter(250, 10);
  ASSERT_EQ(events.size(), 10u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, 251 + i);
  EXPECT_TRUE(store.value()->EventsAfter(900, 10).empty());
  EXPECT_EQ(store.value()->EventsAfter(0, 1000).size(), 900u);
}

TEST(StateStoreTest, DeleteAndListInKeyOrder) {
  auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
  ASSERT_TRUE(store.value()
                  ->Commit({{RecordKind::kNodes, "b", "2"}, {RecordKind::kNodes, "a", "1"}, {RecordKind::kNodes, "c", "3"}},
                           {}, false)
                  .ok());
  ASSERT_TRUE(store.value()->Commit({{RecordKind::kNodes, "b", std::nullopt}}, {}, false).ok());
  auto nodes = store.value()->List(RecordKind::kNodes);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(nodes[1], (std::pair<std::string, std::string>{"c", "3"}));
}

TEST(StateStoreTest, OtherSchemaVersionIsRefusedAndLeftIntact) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  {
    auto store = StateStore::Open(dir);
    ASSERT_TRUE(store.value()->Commit({{RecordKind::kNodes, "keep", "me"}}, {}, true).ok());
  }
  // Forge a future schema version with RocksDB itself.
  {
    rocksdb::DB* db = nullptr;
    rocksdb::Options o;
    std::vector<rocksdb::ColumnFamilyDescriptor> fams;
    for (const char* n : {"default", "nodes", "jobs", "incidents", "snapshots", "injections", "plans", "fabric", "events"}) {
      fams.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, fams, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[0], "schema_version", "99").ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto refused = StateStore::Open(dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("has schema version 99; this controller understands version 1"),
            std::string::npos)
      << refused.status().message();
}

// A store written before the traffic plans' families existed opens with its records and
// events, and takes the new kinds.
TEST(StateStoreTest, AStoreFromBeforeTheTrafficFamiliesOpensWithEverything) {
  const std::string dir = bulwark::testing::UniqueTempDir() + "/db";
  {
    rocksdb::DB* db = nullptr;
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> fams;
    for (const char* n : {"default", "nodes", "jobs", "incidents", "snapshots", "injections", "events"}) {
      fams.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, fams, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[0], "schema_version", "1").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[2], "job-000001", "{}").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[6], std::string("\0\0\0\0\0\0\0\x05", 8), "{}").ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto store = StateStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(store.value()->Get(RecordKind::kJobs, "job-000001"), "{}");
  EXPECT_EQ(store.value()->last_event_id(), 5u) << "the events are found in their family";
  ASSERT_TRUE(store.value()->Commit({{RecordKind::kPlans, "job-000001", "{}"}, {RecordKind::kFabric, "leaf/spine", "{}"}}, {"{}"}, true).ok());
  EXPECT_EQ(store.value()->last_event_id(), 6u);
  EXPECT_EQ(store.value()->List(RecordKind::kFabric).size(), 1u);
}

TEST(StateStoreTest, UnopenablePathNamesTheDirectory) {
  const std::string file = bulwark::testing::UniqueTempDir() + "/not-a-dir";
  { std::ofstream(file) << "x"; }
  auto store = StateStore::Open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("cannot open state store in " + file), std::string::npos);
}

}  // namespace
}  // namespace bulwark::controller
