// Start-up and communicator life cycle: MPI_Init opens the ring, the creation calls give new
// communicators their agreed ids, MPI_Comm_free forgets a handle before MPI may reuse it.
#include <unistd.h>

#include <atomic>

#include "plugins/pmpi/pmpi_hook.h"

namespace bulwark::pmpi {
namespace {

std::atomic<bool> g_set_up{false};
int g_world_rank = -1;
int g_pid = 0;

}  // namespace

void SetUp() {
  static std::atomic<bool> started{false};
  if (started.exchange(true)) return;
  int initialized = 0, finalized = 0;
  PMPI_Initialized(&initialized);
  PMPI_Finalized(&finalized);
  if (!initialized || finalized) {
    started = false;  // too early (or too late): try again on a later call
    return;
  }
  g_pid = static_cast<int>(getpid());
  PMPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
  RegisterPredefined();
  hook::OpenProcessRing("pmpi", g_world_rank);
  g_set_up.store(true, std::memory_order_release);
}

ring::RingWriter* Recording() {
  if (!g_set_up.load(std::memory_order_acquire)) SetUp();
  return hook::ProcessRing();
}

int WorldRank() { return g_world_rank; }
int ProcessId() { return g_pid; }

ring::DataType TypeCode(MPI_Datatype t) {
  using ring::DataType;
  if (t == MPI_DATATYPE_NULL) return DataType::kNone;
  if (t == MPI_FLOAT || t == MPI_REAL) return DataType::kFloat32;
  if (t == MPI_DOUBLE || t == MPI_DOUBLE_PRECISION) return DataType::kFloat64;
  if (t == MPI_INT || t == MPI_INT32_T || t == MPI_INTEGER) return DataType::kInt32;
  if (t == MPI_UNSIGNED || t == MPI_UINT32_T) return DataType::kUint32;
  if (t == MPI_LONG || t == MPI_LONG_LONG || t == MPI_INT64_T) return DataType::kInt64;
  if (t == MPI_UNSIGNED_LONG || t == MPI_UNSIGNED_LONG_LONG || t == MPI_UINT64_T) return DataType::kUint64;
  if (t == MPI_CHAR || t == MPI_SIGNED_CHAR || t == MPI_INT8_T) return DataType::kInt8;
  if (t == MPI_BYTE || t == MPI_UNSIGNED_CHAR || t == MPI_UINT8_T) return DataType::kUint8;
  return DataType::kOther;
}

uint64_t TypeBytes(MPI_Datatype type, int64_t count) {
  if (type == MPI_DATATYPE_NULL || count <= 0) return 0;
  int size = 0;
  PMPI_Type_size(type, &size);
  return static_cast<uint64_t>(count) * static_cast<uint64_t>(size);
}

}  // namespace bulwark::pmpi

using bulwark::pmpi::RegisterChild;

extern "C" {

int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  if (rc == MPI_SUCCESS) bulwark::pmpi::SetUp();
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) bulwark::pmpi::SetUp();
  return rc;
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm) {
  const int rc = PMPI_Comm_dup(comm, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm* newcomm) {
  const int rc = PMPI_Comm_dup_with_info(comm, info, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm) {
  const int rc = PMPI_Comm_split(comm, color, key, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info, MPI_Comm* newcomm) {
  const int rc = PMPI_Comm_split_type(comm, split_type, key, info, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm* newcomm) {
  const int rc = PMPI_Comm_create(comm, group, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Cart_create(MPI_Comm comm, int ndims, const int dims[], const int periods[], int reorder, MPI_Comm* newcomm) {
  const int rc = PMPI_Cart_create(comm, ndims, dims, periods, reorder, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Graph_create(MPI_Comm comm, int nnodes, const int index[], const int edges[], int reorder,
                     MPI_Comm* newcomm) {
  const int rc = PMPI_Graph_create(comm, nnodes, index, edges, reorder, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(comm, *newcomm);
  return rc;
}

int MPI_Intercomm_merge(MPI_Comm intercomm, int high, MPI_Comm* newcomm) {
  const int rc = PMPI_Intercomm_merge(intercomm, high, newcomm);
  if (rc == MPI_SUCCESS && bulwark::pmpi::Recording()) RegisterChild(intercomm, *newcomm);
  return rc;
}

// MPI_Comm_create_group is collective over the group only, so the parent's creation count
// would differ between members and the rest: such communicators get the fallback id (see
// comm_registry.h), as do those from calls not wrapped here.

int MPI_Comm_free(MPI_Comm* comm) {
  if (comm && bulwark::pmpi::Recording()) bulwark::pmpi::ForgetComm(*comm);
  return PMPI_Comm_free(comm);
}

int MPI_Finalize(void) {
  if (auto* ring = bulwark::pmpi::Recording()) {
    ring->Leave();
    bulwark::hook::SayFinished();
  }
  return PMPI_Finalize();
}

}  // extern "C"
