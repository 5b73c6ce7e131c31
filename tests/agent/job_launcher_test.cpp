// The job launcher with real processes: what a launch's output tells the controller, and a
// stop that finds a job's ranks on this node by their environment and kills only those.
#include "agent/job_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "tests/support/temp_dir.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;

class Events {
 public:
  JobLauncher::EventSink Sink() {
    return [this](json e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(e));
      cv_.notify_all();
    };
  }
  // Waits up to 10 s for an event of `kind`.
  json WaitFor(const std::string& kind) {
    std::unique_lock<std::mutex> lock(mu_);
    json found;
    cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const auto& e : events_) {
        if (e["kind"] == kind) found = e;
      }
      return !found.is_null();
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> events_;
};

// This test process's agent: tests run side by side, each a "cluster" of its own whose
// stops must not reach the others' ranks (same job ids and node names).
std::string AgentSocket() { return "@bulwark-test-" + std::to_string(::getpid()); }

TEST(JobLauncherTest, TheOutputTellsRestoreFirstStepAndExit) {
  const std::string dir = bulwark::testing::UniqueTempDir();
  Events events;
  JobLauncher launcher("n1", AgentSocket(), dir, "/proc", events.Sink());
  auto launched = launcher.Launch(
      "job-1", 2,
      {"/bin/sh", "-c",
       "echo 'bulwark-train: restored step 5 from memory' >&2; echo '{\"step\":6,\"digest\":\"ab\"}'; "
       "echo '{\"step\":7,\"digest\":\"cd\"}'; exit 3"});
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  const json restored = events.WaitFor("job.restored");
  ASSERT_FALSE(restored.is_null());
  EXPECT_EQ(restored["detail"]["step"], 5);
  EXPECT_EQ(restored["detail"]["attempt"], 2);
  const json first = events.WaitFor("job.first_step");
  ASSERT_FALSE(first.is_null());
  EXPECT_EQ(first["detail"]["step"], 6);
  EXPECT_EQ(first["detail"]["job"], "job-1");
  const json exited = events.WaitFor("job.exited");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["detail"]["exit_code"], 3);
  EXPECT_EQ(exited["detail"]["last"]["digest"], "cd");
  std::ifstream log(dir + "/job-1.2.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("{\"step\":7"), std::string::npos) << "the launch's output is kept";
}

// The launch inherits none of the agent's descriptors: a long-running agent holds many
// (sockets, shared memory), and mpirun aborts when its own land past FD_SETSIZE.
TEST(JobLauncherTest, ALaunchInheritsOnlyItsOutput) {
  Events events;
  const std::string dir = bulwark::testing::UniqueTempDir();
  std::vector<int> held;
  for (int i = 0; i < 20; ++i) held.push_back(::open("/dev/null", O_RDONLY));  // inheritable
  JobLauncher launcher("n1", AgentSocket(), dir, "/proc", events.Sink());
  auto launched = launcher.Launch("job-1", 1, {"/bin/sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"});
  for (int fd : held) ::close(fd);
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  ASSERT_FALSE(events.WaitFor("job.exited").is_null());
  std::ifstream log(dir + "/job-1.1.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_EQ(text.str(), "0 1 2 3 ") << "stdin, the output twice, and ls's own directory";
}

TEST(JobLauncherTest, ALaunchThatCannotStartSaysWhy) {
  Events events;
  JobLauncher launcher("n1", AgentSocket(), bulwark::testing::UniqueTempDir(), "/proc", events.Sink());
  auto launched = launcher.Launch("job-1", 1, {"/nonexistent/mpirun", "-np", "2"});
  ASSERT_FALSE(launched.ok());
  EXPECT_EQ(launched.status().message(), "launch_job: /nonexistent/mpirun is not an executable file");
}

// Starts `sleep 60` with a rank's environment: by default one of this test's agent.
// `rank` >= 0 adds the MPI rank a launched rank carries.
pid_t SpawnWithEnv(const std::string& job, const std::string& node, int attempt = 1,
                   const std::string& agent_socket = AgentSocket(), int rank = -1) {
  const std::string a = "BULWARK_JOB_ID=" + job, b = "BULWARK_NODE=" + node, c = "BULWARK_ATTEMPT=" + std::to_string(attempt),
                    d = "BULWARK_AGENT_SOCKET=" + agent_socket, e = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  const pid_t pid = ::fork();
  if (pid == 0) {
    char* const env[] = {const_cast<char*>(a.c_str()), const_cast<char*>(b.c_str()), const_cast<char*>(c.c_str()),
                         const_cast<char*>(d.c_str()), rank >= 0 ? const_cast<char*>(e.c_str()) : nullptr, nullptr};
    char* const argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("60"), nullptr};
    ::execve("/bin/sleep", argv, env);
    ::_exit(127);
  }
  return pid;
}

bool Reaped(pid_t pid, int* status) {
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid, status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Until each child runs sleep: before its exec it has this process's environment.
void WaitUntilExeced(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    for (int i = 0; i < 1000; ++i) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == "sleep") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

TEST(JobLauncherTest, StopKillsTheJobsRanksOnThisNodeOnly) {
  Events events;
  JobLauncher launcher("n1", AgentSocket(), bulwark::testing::UniqueTempDir(), "/proc", events.Sink());
  auto launched = launcher.Launch("job-1", 1, {"/bin/sleep", "60"});
  ASSERT_TRUE(launched.ok());
  const pid_t mine = SpawnWithEnv("job-1", "n1");
  const pid_t other_node = SpawnWithEnv("job-1", "n2");
  const pid_t other_job = SpawnWithEnv("job-2", "n1");
  const pid_t other_cluster = SpawnWithEnv("job-1", "n1", 1, "@another-local-cluster");
  WaitUntilExeced({mine, other_node, other_job, other_cluster});

  const json stopped = launcher.Stop("job-1", 2000);
  EXPECT_EQ(stopped["launch_killed"], true);
  EXPECT_EQ(stopped["killed"], json::array({mine}));
  EXPECT_TRUE(launcher.WasStopped(mine));
  EXPECT_FALSE(launcher.WasStopped(other_node));
  int status = 0;
  ASSERT_TRUE(Reaped(mine, &status));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(::waitpid(other_node, &status, WNOHANG), 0) << "another node's rank is not ours to stop";
  EXPECT_EQ(::waitpid(other_job, &status, WNOHANG), 0);
  EXPECT_EQ(::waitpid(other_cluster, &status, WNOHANG), 0) << "another agent's rank of the same job and node name";
  const json exited = events.WaitFor("job.exited");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["detail"]["signal"], SIGKILL);
  for (pid_t p : {other_node, other_job, other_cluster}) {
    ::kill(p, SIGKILL);
    Reaped(p, &status);
  }
}

TEST(JobLauncherTest, AStopOfAnOlderAttemptLeavesTheRelaunchAlone) {
  Events events;
  JobLauncher launcher("n1", AgentSocket(), bulwark::testing::UniqueTempDir(), "/proc", events.Sink());
  auto launched = launcher.Launch("job-1", 2, {"/bin/sleep", "60"});
  ASSERT_TRUE(launched.ok());
  const pid_t old_rank = SpawnWithEnv("job-1", "n1", 1);
  const pid_t relaunched = SpawnWithEnv("job-1", "n1", 2);
  WaitUntilExeced({old_rank, relaunched});

  // The stop of attempt 1 arrives after attempt 2 was launched (a controller restart).
  json stopped = launcher.Stop("job-1", 2000, 1);
  EXPECT_EQ(stopped["launch_killed"], false) << "the launch is attempt 2's";
  EXPECT_EQ(stopped["killed"], json::array({old_rank}));
  int status = 0;
  ASSERT_TRUE(Reaped(old_rank, &status));
  EXPECT_EQ(::waitpid(relaunched, &status, WNOHANG), 0) << "the relaunch runs on";
  // The pause of a drain is bounded the same way.
  EXPECT_EQ(launcher.Pause("job-1", 1)["paused"], json::array());
  stopped = launcher.Stop("job-1", 2000, 2);
  EXPECT_EQ(stopped["launch_killed"], true);
  EXPECT_EQ(stopped["killed"], json::array({relaunched}));
  ASSERT_TRUE(Reaped(relaunched, &status));
  ASSERT_FALSE(events.WaitFor("job.exited").is_null());
}

// The ranks a fault can be injected into: this agent's, with an MPI rank, newest attempt
// first; mpirun and other agents' processes are not among them.
TEST(JobLauncherTest, RanksAreThisAgentsRankProcessesNewestAttemptFirst) {
  Events events;
  JobLauncher launcher("n1", AgentSocket(), bulwark::testing::UniqueTempDir(), "/proc", events.Sink());
  const pid_t old_rank0 = SpawnWithEnv("job-1", "n1", 1, AgentSocket(), 0);
  const pid_t new_rank3 = SpawnWithEnv("job-1", "n1", 2, AgentSocket(), 3);
  const pid_t new_rank2 = SpawnWithEnv("job-1", "n1", 2, AgentSocket(), 2);
  const pid_t no_rank = SpawnWithEnv("job-1", "n1", 2);
  const pid_t other_node = SpawnWithEnv("job-1", "n2", 2, AgentSocket(), 1);
  const pid_t other_agent = SpawnWithEnv("job-1", "n1", 2, "@another-local-cluster", 1);
  const std::vector<pid_t> all = {old_rank0, new_rank3, new_rank2, no_rank, other_node, other_agent};
  WaitUntilExeced(all);
  const auto ranks = launcher.Ranks();
  for (pid_t p : all) ::kill(p, SIGKILL);
  int status = 0;
  for (pid_t p : all) Reaped(p, &status);
  ASSERT_EQ(ranks.size(), 3u);
  EXPECT_EQ(ranks[0].pid, new_rank2);
  EXPECT_EQ(ranks[0].rank, 2);
  EXPECT_EQ(ranks[0].attempt, 2);
  EXPECT_EQ(ranks[0].job, "job-1");
  EXPECT_EQ(ranks[1].pid, new_rank3);
  EXPECT_EQ(ranks[2].pid, old_rank0);
}

}  // namespace
}  // namespace bulwark::agent
