// A command (usually mpirun) run as a child in its own process group, its stdout and stderr
// captured to files in a fresh folder. Killed with its whole group if the test ends first.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace bulwark::testing {

inline std::string ReadWholeFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ProcessJob {
 public:
  ProcessJob(std::vector<std::string> argv, std::map<std::string, std::string> env = {}) {
    static int counter = 0;
    dir_ = std::filesystem::path(UniqueTempDir()) / ("job-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int out = ::open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  ProcessJob(const ProcessJob&) = delete;
  ProcessJob& operator=(const ProcessJob&) = delete;
  ~ProcessJob() {
    if (pid_ > 0 && !done_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Exit code; fails the test (and kills the job) past the deadline.
  int Wait(std::chrono::seconds limit = std::chrono::seconds(240)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "job did not finish in " << limit.count() << " s; stderr:\n" << err();
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    done_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool Running() { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  void Kill() {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    done_ = true;
  }

  std::string out() const { return ReadWholeFile(dir_ / "stdout"); }
  std::string err() const { return ReadWholeFile(dir_ / "stderr"); }
  std::filesystem::path dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool done_ = false;
};

}  // namespace bulwark::testing
