// Completion of non-blocking collectives, seen in the Wait and Test families. Only the
// requests of collectives started through the hook are tracked; while none is pending the
// wrappers cost one atomic load on top of the real call (point-to-point heavy codes pay
// nothing else).
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "plugins/pmpi/pmpi_hook.h"

namespace bulwark::pmpi {
namespace {

struct Pending {
  std::mutex mu;
  // A multimap: an MPI may hand out one shared, already-complete request object for every
  // collective that finished at once (Open MPI does on a one-rank communicator).
  std::unordered_multimap<MPI_Request, ring::Event> by_request;
  std::atomic<size_t> count{0};
};

Pending& Table() {
  static auto* t = new Pending;  // never destroyed: wrappers may run during exit
  return *t;
}

// Handles are copied before the real call, which sets completed ones to MPI_REQUEST_NULL.
class Snapshot {
 public:
  Snapshot(const MPI_Request* requests, int count) {
    if (AnyPending() && requests && count > 0) handles_.assign(requests, requests + count);
  }
  bool empty() const { return handles_.empty(); }
  void CompleteAll() { CompletePending(handles_.data(), static_cast<int>(handles_.size())); }
  void CompleteAt(int index) {
    if (index >= 0 && index < static_cast<int>(handles_.size())) CompletePending(&handles_[static_cast<size_t>(index)], 1);
  }

 private:
  std::vector<MPI_Request> handles_;
};

}  // namespace

bool AnyPending() { return Table().count.load(std::memory_order_acquire) != 0; }

void AddPending(MPI_Request request, const ring::Event& started) {
  Pending& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.by_request.emplace(request, started);
  t.count.store(t.by_request.size(), std::memory_order_release);
}

void CompletePending(const MPI_Request* requests, int count) {
  ring::RingWriter* ring = hook::ProcessRing();
  if (!ring || !AnyPending()) return;
  const int64_t now = ring::MonotonicNs();
  Pending& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<ring::Event> done;
  for (int i = 0; i < count; ++i) {
    auto [first, last] = t.by_request.equal_range(requests[i]);
    for (auto it = first; it != last; ++it) done.push_back(it->second);
    t.by_request.erase(first, last);
  }
  // Calls seen complete together are recorded in the order they began.
  std::sort(done.begin(), done.end(), [](const ring::Event& a, const ring::Event& b) { return a.enter_ns < b.enter_ns; });
  for (ring::Event& e : done) {
    e.exit_ns = now;
    ring->Append(e);
  }
  t.count.store(t.by_request.size(), std::memory_order_release);
}

}  // namespace bulwark::pmpi

using bulwark::pmpi::Snapshot;

extern "C" {

int MPI_Wait(MPI_Request* request, MPI_Status* status) {
  Snapshot before(request, 1);
  const int rc = PMPI_Wait(request, status);
  if (!before.empty() && rc == MPI_SUCCESS) before.CompleteAll();
  return rc;
}

int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]) {
  Snapshot before(requests, count);
  const int rc = PMPI_Waitall(count, requests, statuses);
  if (!before.empty() && rc == MPI_SUCCESS) before.CompleteAll();
  return rc;
}

int MPI_Waitany(int count, MPI_Request requests[], int* index, MPI_Status* status) {
  Snapshot before(requests, count);
  const int rc = PMPI_Waitany(count, requests, index, status);
  if (!before.empty() && rc == MPI_SUCCESS && *index != MPI_UNDEFINED) before.CompleteAt(*index);
  return rc;
}

int MPI_Waitsome(int incount, MPI_Request requests[], int* outcount, int indices[], MPI_Status statuses[]) {
  Snapshot before(requests, incount);
  const int rc = PMPI_Waitsome(incount, requests, outcount, indices, statuses);
  if (!before.empty() && rc == MPI_SUCCESS && *outcount != MPI_UNDEFINED) {
    for (int i = 0; i < *outcount; ++i) before.CompleteAt(indices[i]);
  }
  return rc;
}

int MPI_Test(MPI_Request* request, int* flag, MPI_Status* status) {
  Snapshot before(request, 1);
  const int rc = PMPI_Test(request, flag, status);
  if (!before.empty() && rc == MPI_SUCCESS && *flag) before.CompleteAll();
  return rc;
}

int MPI_Testall(int count, MPI_Request requests[], int* flag, MPI_Status statuses[]) {
  Snapshot before(requests, count);
  const int rc = PMPI_Testall(count, requests, flag, statuses);
  if (!before.empty() && rc == MPI_SUCCESS && *flag) before.CompleteAll();
  return rc;
}

int MPI_Testany(int count, MPI_Request requests[], int* index, int* flag, MPI_Status* status) {
  Snapshot before(requests, count);
  const int rc = PMPI_Testany(count, requests, index, flag, status);
  if (!before.empty() && rc == MPI_SUCCESS && *flag && *index != MPI_UNDEFINED) before.CompleteAt(*index);
  return rc;
}

int MPI_Testsome(int incount, MPI_Request requests[], int* outcount, int indices[], MPI_Status statuses[]) {
  Snapshot before(requests, incount);
  const int rc = PMPI_Testsome(incount, requests, outcount, indices, statuses);
  if (!before.empty() && rc == MPI_SUCCESS && *outcount != MPI_UNDEFINED) {
    for (int i = 0; i < *outcount; ++i) before.CompleteAt(indices[i]);
  }
  return rc;
}

}  // extern "C"
