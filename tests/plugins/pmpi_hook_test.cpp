// libbulwark-pmpi.so inside real MPI jobs (mpirun, 2 and 4 ranks, C and Fortran callers),
// read back through the agent's real ring intake over its Unix socket.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tests/support/process_job.h"
#include "tests/support/ring_collector.h"

namespace bulwark::agent {
namespace {

using ring::Event;
using ring::Op;

struct Expected {
  Op op;
  int64_t bytes;           // when >= 0
  int64_t bytes_per_rank;  // times the communicator size, added
};

// What collectives_probe.c does on MPI_COMM_WORLD, in order.
const std::vector<Expected> kWorldSequence = {
    {Op::kAllreduce, 16, 0},     {Op::kReduce, 64, 0},         {Op::kBcast, 12, 0},
    {Op::kAllgather, 8, 0},      {Op::kAllgatherv, 8, 0},      {Op::kGather, 5, 0},
    {Op::kGatherv, 5, 0},        {Op::kScatter, 6, 0},         {Op::kScatterv, 6, 0},
    {Op::kReduceScatter, 0, 8},  {Op::kReduceScatterBlock, 0, 24}, {Op::kAlltoall, 0, 8},
    {Op::kAlltoallv, 0, 8},      {Op::kAlltoallw, 0, 4},       {Op::kBarrier, 0, 0},
    {Op::kScan, 4, 0},           {Op::kExscan, 4, 0},
    // non-blocking from here (completions)
    {Op::kAllreduce, 16, 0},     {Op::kBcast, 16, 0},          {Op::kBarrier, 0, 0},
    {Op::kAllgather, 4, 0},      {Op::kReduce, 4, 0},          {Op::kAlltoall, 0, 4},
    {Op::kScan, 4, 0},           {Op::kExscan, 4, 0},          {Op::kGather, 4, 0},
    {Op::kReduceScatterBlock, 0, 4}, {Op::kScatter, 4, 0},     {Op::kGatherv, 4, 0},
    {Op::kScatterv, 4, 0},       {Op::kAllgatherv, 4, 0},      {Op::kAlltoallv, 0, 4},
    {Op::kAlltoallw, 0, 4},      {Op::kReduceScatter, 0, 4},
};
constexpr size_t kFirstNonBlocking = 17;

// What collectives_probe.f90 does.
const std::vector<Expected> kFortranSequence = {
    {Op::kAllreduce, 16, 0}, {Op::kBcast, 64, 0},    {Op::kBarrier, 0, 0},
    {Op::kReduce, 12, 0},    {Op::kAllgather, 8, 0}, {Op::kAlltoall, 0, 8},
    // non-blocking
    {Op::kAllreduce, 12, 0}, {Op::kBarrier, 0, 0},   {Op::kBcast, 16, 0},
    {Op::kAllgather, 4, 0},  {Op::kScan, 4, 0},      {Op::kAlltoall, 0, 4},
};

using Collector = bulwark::testing::RingCollector;

// The intake on an abstract socket of this test process.
class IntakeThread : public bulwark::testing::IntakeThread {
 public:
  IntakeThread() : bulwark::testing::IntakeThread("@bw-pmpi-" + std::to_string(getpid())) {}
};

int RunHooked(const char* program, int ranks, const std::string& socket, std::string* err) {
  bulwark::testing::ProcessJob job({BULWARK_MPIRUN, "-np", std::to_string(ranks), "-x", "LD_PRELOAD=" BULWARK_PMPI_LIB,
                                    "-x", "BULWARK_AGENT_SOCKET=" + socket, "-x", "BULWARK_JOB_ID=job-test", program});
  const int rc = job.Wait(std::chrono::seconds(120));
  *err = job.err();
  return rc;
}

// Completed records of one communicator, in sequence order.
std::vector<Event> Completed(const std::vector<Event>& events, uint64_t comm) {
  std::vector<Event> out;
  for (const auto& e : events)
    if (e.comm_id == comm && !(e.flags & ring::kEntered)) out.push_back(e);
  return out;
}

void ExpectSequence(const std::vector<Event>& got, const std::vector<Expected>& want, int comm_size,
                    const std::string& where) {
  std::string seen;
  for (const auto& e : got) seen += " " + std::to_string(e.seq) + ":" + ring::OpName(e.op);
  ASSERT_EQ(got.size(), want.size()) << where << ", got" << seen;
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(where + " call " + std::to_string(i) + " (" + ring::OpName(want[i].op) + ")");
    EXPECT_EQ(got[i].op, want[i].op) << ring::OpName(got[i].op);
    EXPECT_EQ(got[i].seq, i);
    EXPECT_EQ(static_cast<int64_t>(got[i].bytes), want[i].bytes + want[i].bytes_per_rank * comm_size);
    EXPECT_GE(got[i].exit_ns, got[i].enter_ns);
    EXPECT_GT(got[i].enter_ns, 0);
  }
}

class PmpiHookTest : public ::testing::TestWithParam<int> {};

TEST_P(PmpiHookTest, EveryCollectiveIsRecordedWithAgreedIdsSequencesAndSizes) {
  const int ranks = GetParam();
  IntakeThread intake;
  std::string err;
  ASSERT_EQ(RunHooked(BULWARK_C_PROBE, ranks, intake.path(), &err), 0) << err;
  ASSERT_TRUE(intake.AllClosed(static_cast<size_t>(ranks))) << "rings not all closed after the job exited";
  Collector& c = intake.collector;
  std::lock_guard<std::mutex> lock(c.mu);
  ASSERT_EQ(c.origins.size(), static_cast<size_t>(ranks));
  EXPECT_TRUE(c.refused.empty());
  EXPECT_EQ(c.total_drops, 0u);

  std::set<uint64_t> world_ids, dup_ids;
  std::map<int, std::set<uint64_t>> half_ids_by_color;
  std::set<int> world_ranks;
  for (const auto& [id, origin] : c.origins) {
    const auto& events = c.events[id];
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(origin.source, "pmpi");
    EXPECT_EQ(origin.job, "job-test");
    EXPECT_EQ(c.closed[id], "finished");
    const int wr = origin.world_rank;
    world_ranks.insert(wr);
    for (const auto& e : events) {
      EXPECT_EQ(e.world_rank, wr);
      EXPECT_EQ(e.pid, origin.pid);
    }
    // The first record is the world's first collective; its comm id is the world's.
    const uint64_t world = events.front().comm_id;
    world_ids.insert(world);
    const auto on_world = Completed(events, world);
    ExpectSequence(on_world, kWorldSequence, ranks, "rank " + std::to_string(wr));
    for (size_t i = 0; i < on_world.size(); ++i) {
      EXPECT_EQ(on_world[i].comm_rank, wr);
      EXPECT_EQ(static_cast<bool>(on_world[i].flags & ring::kNonBlocking), i >= kFirstNonBlocking);
    }
    size_t entered = 0;
    for (const auto& e : events) entered += (e.flags & ring::kEntered) ? 1 : 0;
    EXPECT_EQ(entered, kWorldSequence.size() - kFirstNonBlocking) << "one start record per non-blocking call";

    // After the world's records: the split (2 calls) then the duplicate (1 call).
    std::vector<uint64_t> others;
    for (const auto& e : events)
      if (e.comm_id != world && (others.empty() || others.back() != e.comm_id)) others.push_back(e.comm_id);
    ASSERT_EQ(others.size(), 2u) << "rank " << wr;
    const auto half = Completed(events, others[0]);
    ASSERT_EQ(half.size(), 2u);
    EXPECT_EQ(half[0].op, Op::kAllreduce);
    EXPECT_EQ(half[0].bytes, 40u);
    EXPECT_EQ(half[1].op, Op::kBarrier);
    EXPECT_EQ(half[1].seq, 1u);
    EXPECT_EQ(half[0].comm_rank, wr / 2);
    half_ids_by_color[wr % 2].insert(others[0]);
    const auto dup = Completed(events, others[1]);
    ASSERT_EQ(dup.size(), 1u);
    EXPECT_EQ(dup[0].seq, 0u);
    dup_ids.insert(others[1]);
  }
  EXPECT_EQ(world_ranks.size(), static_cast<size_t>(ranks));
  EXPECT_EQ(world_ids.size(), 1u) << "every rank agrees on the world's id";
  EXPECT_EQ(dup_ids.size(), 1u) << "every rank agrees on the duplicate's id";
  EXPECT_NE(*dup_ids.begin(), *world_ids.begin());
  for (const auto& [color, ids] : half_ids_by_color) EXPECT_EQ(ids.size(), 1u) << "members of split " << color << " agree";
  if (ranks > 1) {
    EXPECT_NE(*half_ids_by_color[0].begin(), *half_ids_by_color[1].begin()) << "the two halves differ";
  }
}

#ifdef BULWARK_FORTRAN_PROBE
TEST_P(PmpiHookTest, FortranCallersAreRecorded) {
  const int ranks = GetParam();
  IntakeThread intake;
  std::string err;
  ASSERT_EQ(RunHooked(BULWARK_FORTRAN_PROBE, ranks, intake.path(), &err), 0) << err;
  ASSERT_TRUE(intake.AllClosed(static_cast<size_t>(ranks)));
  Collector& c = intake.collector;
  std::lock_guard<std::mutex> lock(c.mu);
  ASSERT_EQ(c.origins.size(), static_cast<size_t>(ranks));
  std::set<uint64_t> world_ids;
  for (const auto& [id, origin] : c.origins) {
    const auto& events = c.events[id];
    ASSERT_FALSE(events.empty());
    world_ids.insert(events.front().comm_id);
    const auto got = Completed(events, events.front().comm_id);
    ExpectSequence(got, kFortranSequence, ranks, "rank " + std::to_string(origin.world_rank));
    for (const auto& e : got) EXPECT_TRUE(e.flags & ring::kFortran);
    EXPECT_EQ(c.closed[id], "finished") << "Fortran's MPI_Finalize is seen too";
  }
  EXPECT_EQ(world_ids.size(), 1u);
}
#endif

INSTANTIATE_TEST_SUITE_P(Ranks, PmpiHookTest, ::testing::Values(1, 2, 4));

TEST(PmpiHookNoAgentTest, TheJobRunsUnchangedAndTheHookSaysSoOnce) {
  std::string err;
  ASSERT_EQ(RunHooked(BULWARK_C_PROBE, 2, "/tmp/bw-no-agent-here.sock", &err), 0) << err;
  const std::string line =
      "bulwark-pmpi: no agent at /tmp/bw-no-agent-here.sock (No such file or directory); this job runs unhooked";
  const size_t first = err.find(line);
  EXPECT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find(line, first + 1), std::string::npos) << "said more than once:\n" << err;
}

}  // namespace
}  // namespace bulwark::agent
