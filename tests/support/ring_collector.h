// The agent's real ring intake on a thread of the test, keeping everything it delivers.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/ring_intake.h"

namespace bulwark::testing {

class RingCollector : public agent::IntakeSink {
 public:
  void OnRingOpened(const agent::RingOrigin& o) override {
    std::lock_guard<std::mutex> lock(mu);
    origins[o.ring_id] = o;
  }
  void OnEvents(const agent::RingOrigin& o, const ring::Event* e, size_t n) override {
    std::lock_guard<std::mutex> lock(mu);
    auto& v = events[o.ring_id];
    v.insert(v.end(), e, e + n);
  }
  void OnRingClosed(const agent::RingOrigin& o, uint64_t drops, const std::string& why) override {
    std::lock_guard<std::mutex> lock(mu);
    closed[o.ring_id] = why;
    total_drops += drops;
  }
  void OnRingRefused(const std::string& why) override {
    std::lock_guard<std::mutex> lock(mu);
    refused.push_back(why);
  }
  std::mutex mu;
  std::map<uint64_t, agent::RingOrigin> origins;
  std::map<uint64_t, std::vector<ring::Event>> events;
  std::map<uint64_t, std::string> closed;
  std::vector<std::string> refused;
  uint64_t total_drops = 0;
};

// A ring intake polled on its own thread, like the agent's.
class IntakeThread {
 public:
  explicit IntakeThread(std::string path) : path_(std::move(path)) {
    auto intake = agent::RingIntake::Listen(path_);
    EXPECT_TRUE(intake.ok()) << intake.status().message();
    intake_ = std::move(intake.value());
    thread_ = std::thread([this] {
      while (!stop_) intake_->Poll(5, &collector);
    });
  }
  ~IntakeThread() {
    stop_ = true;
    thread_.join();
  }
  const std::string& path() const { return path_; }
  // Until `done` holds over what was collected (checked under the lock), up to 10 s.
  template <typename Done>
  bool WaitFor(Done done) {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard<std::mutex> lock(collector.mu);
        if (done(collector)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Until every ring opened so far is closed (the job has exited) and there were `rings`.
  bool AllClosed(size_t rings) {
    return WaitFor([&](RingCollector& c) { return c.origins.size() >= rings && c.closed.size() == c.origins.size(); });
  }
  RingCollector collector;

 private:
  std::string path_;
  std::unique_ptr<agent::RingIntake> intake_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace bulwark::testing
