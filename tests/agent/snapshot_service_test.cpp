// The agent's snapshot service against a controller that is away: a restore asked while
// the controller restarts waits for it (within the snapshot timeout) instead of failing
// the relaunch; one that never comes back fails, naming why.
#include "agent/snapshot_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio.hpp>

#include <chrono>
#include <thread>

#include "common/http_server.h"

namespace bulwark::agent {
namespace {

uint16_t FreePort() {
  boost::asio::io_context io;
  auto probe = http::Server::Start(io, {}, [](http::Request, http::Respond respond) { respond({200, "{}"}); });
  return probe.value()->port();
}

SnapshotOptions Options(uint16_t controller_port, int64_t timeout_ms) {
  SnapshotOptions o;
  o.node = "n1";
  o.prefix = "/bulwark-test-restore-" + std::to_string(getpid());
  o.controller_url = "http://127.0.0.1:" + std::to_string(controller_port);
  o.timeout_ms = timeout_ms;
  return o;
}

TEST(SnapshotServiceTest, ARestoreWaitsForARestartingController) {
  const uint16_t port = FreePort();
  auto service = SnapshotService::Start(Options(port, 20000), [](const std::string&) {});
  ASSERT_TRUE(service.ok()) << service.status().message();
  // The controller comes back 700 ms later and answers (here: it knows no such job).
  boost::asio::io_context io;
  std::unique_ptr<http::Server> controller;
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    http::ServerOptions so;
    so.port = port;
    controller = http::Server::Start(io, so, [](http::Request, http::Respond respond) {
                   respond({404, R"({"error":"no agent has reported snapshots of job 'j'"})"});
                 }).value();
    io.run();  // until the restore has its answer
  });
  auto restored = (*service)->Restore("j", 0);
  io.stop();
  later.join();
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.status().message().find("no agent has reported snapshots of job 'j'"), std::string::npos)
      << "the controller's own answer, not 'unreachable': " << restored.status().message();
}

TEST(SnapshotServiceTest, AControllerThatNeverReturnsFailsTheRestoreSayingSo) {
  auto service = SnapshotService::Start(Options(FreePort(), 300), [](const std::string&) {});
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto restored = (*service)->Restore("j", 0);
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.status().message().find("controller unreachable"), std::string::npos) << restored.status().message();
}

}  // namespace
}  // namespace bulwark::agent
