// bulwark_snapshot.h over SnapshotClient: errors become return codes and a message.
#include <cstdlib>
#include <exception>
#include <new>

#include "snapshot/bulwark_snapshot.h"
#include "snapshot/snapshot_client.h"

struct bulwark_snapshot {
  std::unique_ptr<bulwark::snapshot::SnapshotClient> client;
  std::string error;
};

namespace {

int Report(bulwark_snapshot* s, const bulwark::Status& status) {
  s->error = status.ok() ? "" : status.message();
  return status.ok() ? 0 : -1;
}

// Runs `f` (returning a Status) with no exception escaping into C.
template <typename F>
int Guard(bulwark_snapshot* s, F&& f) {
  if (!s) return -1;
  if (!s->client) {
    if (s->error.empty()) s->error = "the snapshot handle did not open";
    return -1;
  }
  try {
    return Report(s, f());
  } catch (const std::exception& e) {
    s->error = std::string("internal error: ") + e.what();
    return -1;
  }
}

}  // namespace

extern "C" {

int bulwark_snapshot_open(const char* job, int rank, int world_size, uint64_t budget_bytes, bulwark_snapshot** out) {
  if (!out) return -1;
  *out = new (std::nothrow) bulwark_snapshot;
  if (!*out) return -1;
  try {
    const char* prefix = std::getenv("BULWARK_SNAPSHOT_PREFIX");
    auto client = bulwark::snapshot::SnapshotClient::Open(prefix && *prefix ? prefix : "bulwark", job ? job : "", rank,
                                                         world_size, budget_bytes);
    if (!client.ok()) return Report(*out, client.status());
    (*out)->client = std::move(client.value());
    return 0;
  } catch (const std::exception& e) {
    (*out)->error = std::string("internal error: ") + e.what();
    return -1;
  }
}

int bulwark_snapshot_begin(bulwark_snapshot* s, uint64_t step) {
  return Guard(s, [&] { return s->client->Begin(step); });
}

int bulwark_snapshot_add(bulwark_snapshot* s, const char* name, const void* data, size_t bytes) {
  return Guard(s, [&] { return s->client->Add(name ? name : "", data, bytes); });
}

int bulwark_snapshot_commit(bulwark_snapshot* s) {
  return Guard(s, [&] { return s->client->Commit(); });
}

int bulwark_snapshot_latest(bulwark_snapshot* s, uint64_t* step) {
  return Guard(s, [&] {
    auto latest = s->client->Latest();
    if (!latest) return bulwark::Status::Error("no committed snapshot yet");
    if (step) *step = *latest;
    return bulwark::Status::Ok();
  });
}

int bulwark_snapshot_restore(bulwark_snapshot* s, uint64_t step, const char* name, void* data, size_t bytes) {
  return Guard(s, [&] { return s->client->Restore(step, name ? name : "", data, bytes); });
}

int bulwark_snapshot_roll_back(bulwark_snapshot* s, uint64_t step) {
  return Guard(s, [&] { return s->client->RollBackTo(step); });
}

const char* bulwark_snapshot_error(const bulwark_snapshot* s) { return s ? s->error.c_str() : "no snapshot handle"; }

void bulwark_snapshot_close(bulwark_snapshot* s) { delete s; }

}  // extern "C"
