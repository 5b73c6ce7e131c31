// bulwark-train as a real MPI job: mpirun, separate processes, real signals.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "snapshot/snapshot_client.h"
#include "trainer/state_file.h"
#include "tests/support/process_job.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kTiny = std::string(BULWARK_SOURCE_DIR) + "/trainer/configs/tiny.yaml";

std::string ReadFile(const fs::path& p) { return bulwark::testing::ReadWholeFile(p); }

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

// bulwark-train under mpirun, its output captured to files.
class Job : public bulwark::testing::ProcessJob {
 public:
  Job(int ranks, std::vector<std::string> args, std::map<std::string, std::string> env = {})
      : ProcessJob(Argv(ranks, std::move(args)), std::move(env)) {}

  std::vector<json> steps() const { return JsonLines(out()); }
  std::vector<json> faults() const {
    std::vector<json> f;
    for (auto& j : JsonLines(err()))
      if (j.value("event", "") == "fault") f.push_back(j);
    return f;
  }

 private:
  static std::vector<std::string> Argv(int ranks, std::vector<std::string> args) {
    std::vector<std::string> argv = {BULWARK_MPIRUN, "-np", std::to_string(ranks), BULWARK_TRAIN_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

std::vector<std::string> Digests(const std::vector<json>& steps) {
  std::vector<std::string> d;
  for (auto& s : steps) d.push_back(s["digest"]);
  return d;
}

class TrainerMpiTest : public ::testing::TestWithParam<int> {};

TEST_P(TrainerMpiTest, LossFalls) {
  Job job(GetParam(), {"--config", kTiny, "--steps", "200"});
  ASSERT_EQ(job.Wait(), 0) << job.err();
  auto steps = job.steps();
  ASSERT_EQ(steps.size(), 200u);
  EXPECT_EQ(steps.back()["step"], 200);  // the last line is the final step's
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += steps[i]["loss"].get<double>() / 5;
  for (int i = 190; i < 200; ++i) last += steps[i]["loss"].get<double>() / 10;
  EXPECT_NEAR(first, std::log(128.0), 0.3);
  EXPECT_LT(last, first - 2.0) << "loss did not fall: " << first << " -> " << last;
}

TEST_P(TrainerMpiTest, TwoRunsAreBitIdenticalAtEveryStep) {
  Job a(GetParam(), {"--config", kTiny, "--steps", "40"});
  Job b(GetParam(), {"--config", kTiny, "--steps", "40"});
  ASSERT_EQ(a.Wait(), 0) << a.err();
  ASSERT_EQ(b.Wait(), 0) << b.err();
  auto sa = a.steps(), sb = b.steps();
  ASSERT_EQ(sa.size(), 40u);
  ASSERT_EQ(sb.size(), 40u);
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i]["digest"], sb[i]["digest"]) << "step " << i + 1;
    EXPECT_EQ(sa[i]["loss"], sb[i]["loss"]) << "step " << i + 1;
  }
}

TEST_P(TrainerMpiTest, ResumeFromStateMatchesUninterruptedRun) {
  Job straight(GetParam(), {"--config", kTiny, "--steps", "30"});
  ASSERT_EQ(straight.Wait(), 0) << straight.err();
  const fs::path state = straight.dir() / "state";
  fs::create_directories(state);
  Job saver(GetParam(), {"--config", kTiny, "--steps", "12", "--save-at", "12", "--state-dir", state.string()});
  ASSERT_EQ(saver.Wait(), 0) << saver.err();
  for (int r = 0; r < GetParam(); ++r) EXPECT_TRUE(fs::exists(state / ("rank-" + std::to_string(r) + ".state")));

  Job resumed(GetParam(), {"--config", kTiny, "--steps", "30", "--resume", state.string()});
  ASSERT_EQ(resumed.Wait(), 0) << resumed.err();
  auto want = straight.steps(), got = resumed.steps();
  ASSERT_EQ(want.size(), 30u);
  ASSERT_EQ(got.size(), 18u);
  EXPECT_EQ(got.front()["step"], 13);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["digest"], want[12 + i]["digest"]) << "step " << 13 + i;
    EXPECT_EQ(got[i]["loss"], want[12 + i]["loss"]) << "step " << 13 + i;
  }
}

// Issue 5 (a): a rank SIGKILLed; the job restarts from the snapshots its ranks left in
// shared memory (no file read) and ends bit-identical to a run that never failed.
TEST_P(TrainerMpiTest, ACrashedJobRestartsFromMemoryAndEndsBitIdentical) {
  const std::string job = "t" + std::to_string(::getpid()) + "-" + std::to_string(GetParam());
  const std::map<std::string, std::string> env = {{"BULWARK_JOB_ID", job}};
  Job straight(GetParam(), {"--config", kTiny, "--steps", "30"});
  ASSERT_EQ(straight.Wait(), 0) << straight.err();
  auto crash_env = env;
  crash_env["BULWARK_FAULTS"] = "crash:step=20:rank=" + std::to_string(GetParam() - 1);
  Job crashed(GetParam(), {"--config", kTiny, "--steps", "30", "--snapshot-every", "1"}, crash_env);
  EXPECT_NE(crashed.Wait(), 0);
  Job resumed(GetParam(), {"--config", kTiny, "--steps", "30", "--snapshot-every", "1", "--restore-from-memory"}, env);
  ASSERT_EQ(resumed.Wait(), 0) << resumed.err();
  for (int r = 0; r < GetParam(); ++r) bulwark::snapshot::SnapshotClient::Remove("bulwark", job, r);
  EXPECT_NE(resumed.err().find("restored step 19 from memory"), std::string::npos) << resumed.err();
  auto want = straight.steps(), got = resumed.steps();
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got.front()["step"], 20);
  EXPECT_EQ(got.back()["digest"], want.back()["digest"]) << "the final parameters equal the uninterrupted run's";
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i]["loss"], want[19 + i]["loss"]) << "step " << 20 + i;
}

TEST_P(TrainerMpiTest, WithoutSnapshotsInMemoryTheJobStartsFresh) {
  const std::string job = "fresh" + std::to_string(::getpid()) + "-" + std::to_string(GetParam());
  Job fresh(GetParam(), {"--config", kTiny, "--steps", "3", "--restore-from-memory"}, {{"BULWARK_JOB_ID", job}});
  ASSERT_EQ(fresh.Wait(), 0) << fresh.err();
  for (int r = 0; r < GetParam(); ++r) bulwark::snapshot::SnapshotClient::Remove("bulwark", job, r);
  EXPECT_NE(fresh.err().find("nothing restored from memory (not every rank holds a snapshot in memory); starting at step 0"),
            std::string::npos)
      << fresh.err();
  EXPECT_EQ(fresh.steps().size(), 3u);
}

TEST_P(TrainerMpiTest, CrashFaultKillsTheRankWithSigkill) {
  const int victim = GetParam() - 1;
  Job job(GetParam(), {"--config", kTiny, "--steps", "20"},
          {{"BULWARK_FAULTS", "crash:step=6:rank=" + std::to_string(victim)}});
  EXPECT_NE(job.Wait(), 0);
  auto steps = job.steps();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back()["step"], 5);  // step 6 never completed
  auto faults = job.faults();
  ASSERT_EQ(faults.size(), 1u) << job.err();
  EXPECT_EQ(faults[0]["kind"], "crash");
  EXPECT_EQ(faults[0]["rank"], victim);
  EXPECT_EQ(faults[0]["step"], 6);
  EXPECT_NE(job.err().find("signal 9"), std::string::npos) << "mpirun did not report SIGKILL:\n" << job.err();
}

TEST_P(TrainerMpiTest, HangFaultBlocksBeforeTheCollective) {
  Job job(GetParam(), {"--config", kTiny, "--steps", "50"}, {{"BULWARK_FAULTS", "hang:step=4:rank=1"}});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (job.faults().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  auto faults = job.faults();
  ASSERT_EQ(faults.size(), 1u) << job.err();
  EXPECT_EQ(faults[0]["kind"], "hang");
  EXPECT_EQ(faults[0]["rank"], 1);
  // The job must stay alive and stuck: no step past 3, however long we wait.
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(job.Running());
  auto steps = job.steps();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back()["step"], 3);
  job.Kill();
}

TEST_P(TrainerMpiTest, SlowFaultBurnsExtraComputeWithoutChangingTheMath) {
  const int victim = GetParam() - 1;
  // This one comes from a config file's faults list; the others from the environment.
  std::string config = ReadFile(kTiny) + "faults:\n  - {kind: slow, step: 5, rank: " + std::to_string(victim) +
                       ", percent: 200}\n";
  const fs::path path = fs::path(bulwark::testing::UniqueTempDir()) / "slow.yaml";
  std::ofstream(path) << config;
  Job slow(GetParam(), {"--config", path.string(), "--steps", "12"});
  Job clean(GetParam(), {"--config", kTiny, "--steps", "12"});
  ASSERT_EQ(slow.Wait(), 0) << slow.err();
  ASSERT_EQ(clean.Wait(), 0) << clean.err();
  auto faults = slow.faults();
  ASSERT_EQ(faults.size(), 8u) << slow.err();  // steps 5..12
  for (size_t i = 0; i < faults.size(); ++i) {
    EXPECT_EQ(faults[i]["kind"], "slow");
    EXPECT_EQ(faults[i]["rank"], victim);
    EXPECT_EQ(faults[i]["step"], 5 + static_cast<int>(i));
    // The trainer spins until extra >= 2 × compute; both are printed to 0.001 ms, so allow
    // the rounding of the printout (at most 0.0005 on extra and 2 × 0.0005 on 2 × compute).
    EXPECT_GE(faults[i]["extra_ms"].get<double>(), 2.0 * faults[i]["compute_ms"].get<double>() - 0.0015);
  }
  EXPECT_EQ(Digests(slow.steps()), Digests(clean.steps()));
}

INSTANTIATE_TEST_SUITE_P(Ranks, TrainerMpiTest, ::testing::Values(2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "ranks"; });

TEST(TrainerMpiErrorsTest, BadConfigNamesTheKeyOnce) {
  const fs::path path = fs::path(bulwark::testing::UniqueTempDir()) / "bad.yaml";
  std::ofstream(path) << ReadFile(kTiny) << "  stepz: 10\n";  // lands inside train:
  Job job(2, {"--config", path.string()});
  EXPECT_EQ(job.Wait(), 2);
  const std::string err = job.err();
  const std::string want = "train.stepz: unknown key";
  auto at = err.find(want);
  ASSERT_NE(at, std::string::npos) << err;
  EXPECT_NE(err.find(path.string() + ":"), std::string::npos) << err;
  EXPECT_EQ(err.find(want, at + 1), std::string::npos) << "reported by more than one rank:\n" << err;
}

TEST(TrainerMpiErrorsTest, FaultForMissingRankIsRefused) {
  Job job(2, {"--config", kTiny, "--steps", "3"}, {{"BULWARK_FAULTS", "crash:step=2:rank=7"}});
  EXPECT_EQ(job.Wait(), 2);
  EXPECT_NE(job.err().find("faults[0].rank 7 is outside the world of 2 ranks"), std::string::npos) << job.err();
}

// One rank's saved ranges, by name.
std::map<std::string, std::vector<uint8_t>> SavedRanges(const std::string& path) {
  auto layout = bulwark::train::StateFileLayout(path);
  EXPECT_TRUE(layout.ok()) << layout.status().message();
  std::map<std::string, std::vector<uint8_t>> out;
  std::vector<bulwark::train::NamedRange> ranges;
  for (const auto& [name, bytes] : layout.value()) out[name].resize(bytes);
  for (const auto& [name, bytes] : layout.value()) ranges.push_back({name, out[name].data(), bytes});
  EXPECT_TRUE(bulwark::train::ReadStateFile(path, ranges).ok()) << path;
  return out;
}

// A job that lost a node goes on with fewer ranks: the state of 4 ranks is resharded to 2
// (and back to 4) bit for bit, weights and both Adam moments.
TEST(TrainerReshardTest, FourRanksStateReshardsToTwoAndBackBitForBit) {
  const std::string a = bulwark::testing::UniqueTempDir() + "/a", b = a + "-b", c = a + "-c";
  for (const auto& d : {a, b, c}) fs::create_directories(d);
  Job four(4, {"--config", kTiny, "--steps", "8", "--save-at", "8", "--state-dir", a});
  ASSERT_EQ(four.Wait(), 0) << four.err();
  const std::string digest = four.steps().back()["digest"];
  Job two(2, {"--config", kTiny, "--steps", "8", "--resume", a, "--save-at", "8", "--state-dir", b});
  ASSERT_EQ(two.Wait(), 0) << two.err();
  EXPECT_NE(two.err().find("resharded from 4 ranks to 2 (digest " + digest + ")"), std::string::npos) << two.err();
  Job back(4, {"--config", kTiny, "--steps", "8", "--resume", b, "--save-at", "8", "--state-dir", c});
  ASSERT_EQ(back.Wait(), 0) << back.err();
  for (int r = 0; r < 4; ++r) {
    const std::string name = "/rank-" + std::to_string(r) + ".state";
    auto before = SavedRanges(a + name), after = SavedRanges(c + name);
    for (const char* range : {"master_weights", "adam_m", "adam_v"}) {
      EXPECT_TRUE(before[range] == after[range]) << "rank " << r << " " << range << " changed on the way 4 -> 2 -> 4";
    }
  }
  // Training goes on, the same way every time.
  Job go1(2, {"--config", kTiny, "--steps", "12", "--resume", a}), go2(2, {"--config", kTiny, "--steps", "12", "--resume", a});
  ASSERT_EQ(go1.Wait(), 0) << go1.err();
  ASSERT_EQ(go2.Wait(), 0) << go2.err();
  ASSERT_EQ(go1.steps().size(), 4u);
  EXPECT_EQ(Digests(go1.steps()), Digests(go2.steps()));
  EXPECT_LT(go1.steps().back()["loss"].get<double>(), 5.0);
}

TEST(TrainerReshardTest, AMissingOldRankIsRefusedOnEveryRank) {
  const std::string state = bulwark::testing::UniqueTempDir();
  Job saver(4, {"--config", kTiny, "--steps", "3", "--save-at", "3", "--state-dir", state});
  ASSERT_EQ(saver.Wait(), 0) << saver.err();
  fs::remove(state + "/rank-3.state");
  Job job(2, {"--config", kTiny, "--steps", "5", "--resume", state});
  EXPECT_EQ(job.Wait(), 3);
  EXPECT_NE(job.err().find("cannot resume: rank 1 could not read its part of the old state"), std::string::npos) << job.err();
  EXPECT_TRUE(job.steps().empty());
}

}  // namespace
