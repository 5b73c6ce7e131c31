#include "plugins/pmpi/comm_registry.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bulwark::pmpi {
namespace {

uint64_t Fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

struct Registry {
  std::mutex mu;
  std::unordered_map<MPI_Comm, CommInfo*> by_handle;
  std::map<uint64_t, uint64_t> unwrapped_seen;  // member-set hash -> how many so far
  std::atomic<uint64_t> generation{1};          // bumped when a handle is forgotten
};

Registry& Reg() {
  static auto* r = new Registry;  // never destroyed: wrappers may run during exit
  return *r;
}

// Members in world ranks; for an intercommunicator, the local group.
std::vector<int> WorldRanks(MPI_Comm comm, int size) {
  MPI_Group group, world;
  PMPI_Comm_group(comm, &group);
  PMPI_Comm_group(MPI_COMM_WORLD, &world);
  std::vector<int> ranks(static_cast<size_t>(size)), out(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) ranks[static_cast<size_t>(i)] = i;
  PMPI_Group_translate_ranks(group, size, ranks.data(), world, out.data());
  PMPI_Group_free(&group);
  PMPI_Group_free(&world);
  return out;
}

CommInfo* Describe(MPI_Comm comm) {
  auto* info = new CommInfo;
  PMPI_Comm_rank(comm, &info->rank);
  PMPI_Comm_size(comm, &info->size);
  return info;
}

// Continues hash `h` over the world ranks of the communicator's members, in rank order.
uint64_t HashMembers(MPI_Comm comm, int size, uint64_t h) {
  const std::vector<int> world_ranks = WorldRanks(comm, size);
  return Fnv1a(world_ranks.data(), world_ranks.size() * sizeof(int), h);
}

void Insert(MPI_Comm comm, CommInfo* info) {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().by_handle[comm] = info;
}

struct CachedLookup {
  MPI_Comm comm;
  CommInfo* info = nullptr;
  uint64_t generation = 0;
};
thread_local CachedLookup t_last;

}  // namespace

void RegisterPredefined() {
  CommInfo* world = Describe(MPI_COMM_WORLD);
  // Every rank of one launch sees the same job id (ours, else Open MPI's); a job of another
  // launch with the same size gets another id.
  std::string job;
  for (const char* var : {"BULWARK_JOB_ID", "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_ess_jobid", "SLURM_JOB_ID"}) {
    if (const char* v = std::getenv(var)) {
      job = v;
      break;
    }
  }
  const std::string seed = "world/" + std::to_string(world->size) + "/" + job;
  world->id = Fnv1a(seed.data(), seed.size());
  Insert(MPI_COMM_WORLD, world);
  CommInfo* self = Describe(MPI_COMM_SELF);
  const std::string self_seed = "self/" + std::to_string(world->rank) + "/" + job;
  self->id = Fnv1a(self_seed.data(), self_seed.size());
  Insert(MPI_COMM_SELF, self);
}

CommInfo* LookupComm(MPI_Comm comm) {
  const uint64_t generation = Reg().generation.load(std::memory_order_acquire);
  if (t_last.info && t_last.comm == comm && t_last.generation == generation) return t_last.info;
  CommInfo* info = nullptr;
  {
    std::lock_guard<std::mutex> lock(Reg().mu);
    auto it = Reg().by_handle.find(comm);
    if (it != Reg().by_handle.end()) info = it->second;
  }
  if (!info) {  // created by a call the hook does not wrap
    info = Describe(comm);
    const uint64_t members = HashMembers(comm, info->size, 0x9e3779b97f4a7c15ull);
    uint64_t nth;
    {
      std::lock_guard<std::mutex> lock(Reg().mu);
      nth = Reg().unwrapped_seen[members]++;
    }
    info->id = Fnv1a(&nth, sizeof(nth), members);
    Insert(comm, info);
  }
  t_last = {comm, info, generation};
  return info;
}

void RegisterChild(MPI_Comm parent, MPI_Comm child) {
  CommInfo* p = LookupComm(parent);
  const uint64_t nth = p->children.fetch_add(1, std::memory_order_relaxed);
  if (child == MPI_COMM_NULL) return;
  CommInfo* info = Describe(child);
  uint64_t h = Fnv1a(&p->id, sizeof(p->id));
  h = Fnv1a(&nth, sizeof(nth), h);
  info->id = HashMembers(child, info->size, h);
  Insert(child, info);
}

void ForgetComm(MPI_Comm comm) {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().by_handle.erase(comm);  // the CommInfo stays allocated: a stale cached pointer is harmless
  Reg().generation.fetch_add(1, std::memory_order_release);
}

}  // namespace bulwark::pmpi
