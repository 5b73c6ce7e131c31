// A bounded mutation fuzzer over the REST API (the libFuzzer idea without its toolchain:
// GCC builds this suite). Valid seed requests are mutated (bytes flipped, inserted,
// deleted, spliced, truncated, numbers swapped for extremes) and fed (1) straight to the
// router and (2) as raw bytes over TCP to a real server. Every answer must be a
// well-formed 2xx-4xx with a JSON error for 4xx, never a 500 or a crash, and the
// controller must still serve correctly afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/http_client.h"
#include "controller/api.h"
#include "tests/support/temp_dir.h"

namespace bulwark::controller {
namespace {

const std::string kAgent = "agent-token-0123456789";
const std::string kOperator = "operator-token-0123456789";

struct Seed {
  std::string method, target, body, token;
};

std::vector<Seed> Seeds() {
  return {
      {"POST", "/v1/agents/register",
       R"({"name":"n1","addresses":["10.0.0.1"],"failure_domain":{"rack":"r1","leaf":"l1"},"nics":[{"name":"ib0","type":"ib","speed_gbps":400,"rail":0}],"gpus":8,"cpus":64,"memory_bytes":1099511627776,"role":"worker"})",
       kAgent},
      {"POST", "/v1/agents/n1/heartbeat", R"({"ranks_running":8,"telemetry_buffered":0,"uptime_ms":1000})", kAgent},
      {"POST", "/v1/agents/n1/telemetry",
       R"({"batches":[{"time_ms":1,"ranks":[{"rank":0,"pid":7,"comms":[{"comm":"c1","op":"allreduce","calls":3,"bytes":1024,"mean_us":1.5,"max_us":3,"last_seq":2}]}]}]})",
       kAgent},
      {"POST", "/v1/agents/n1/events", R"({"events":[{"kind":"rank.exited","time_ms":5,"detail":{"rank":1}}]})", kAgent},
      {"GET", "/v1/agents/n1/commands?after=0&wait_ms=0", "", kAgent},
      {"POST", "/v1/agents/n1/commands/1/result", R"({"ok":true,"result":{"summary":"fine"}})", kAgent},
      {"POST", "/v1/nodes/n1/commands", R"({"kind":"start_ranks","args":{"command":["sleep","1"],"ranks":2,"env":{"A":"b"}}})", kOperator},
      {"POST", "/v1/nodes/n1/drain", R"({"reason":"maintenance"})", kOperator},
      {"POST", "/v1/nodes/n1/readmit", R"({"as":"spare"})", kOperator},
      {"POST", "/v1/jobs", R"({"name":"llm","command":["train","--fast"],"nodes":2,"ranks_per_node":8,"nic_class":"ib","snapshot":{"every_steps":1,"k":4,"m":1}})", kOperator},
      {"DELETE", "/v1/jobs/job-000001", "", kOperator},
      {"GET", "/v1/events?since=0&limit=5", "", kOperator},
      {"GET", "/v1/nodes/n1", "", kOperator},
      {"GET", "/v1/cluster", "", kOperator},
      {"POST", "/v1/injections", R"({"kind":"slow-rank","node":"n1","rank":1,"duration":"30s","percent":50})", kOperator},
      {"GET", "/v1/injections/inj-000001", "", kOperator},
      {"POST", "/v1/injections/inj-000001/heal", "", kOperator},
      {"POST", "/v1/agents/n1/events", R"({"events":[{"kind":"injection_healed","time_ms":5,"detail":{"id":"inj-000001","by":"duration"}}]})", kAgent},
  };
}

std::string Mutate(std::string s, std::mt19937_64& rng, const std::vector<Seed>& seeds) {
  static const char* kInteresting[] = {"-1", "0", "9223372036854775807", "18446744073709551616", "1e308", "null",
                                       "\"\"", "[]", "{}", "true", "\"\\u0000\"", "1.5"};
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < rounds; ++i) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 7) {
      case 0: if (!s.empty() && pos < s.size()) s[pos] ^= static_cast<char>(1 << (rng() % 8)); break;
      case 1: s.insert(pos, 1, static_cast<char>(rng() % 256)); break;
      case 2: if (pos < s.size()) s.erase(pos, 1 + rng() % 8); break;
      case 3: s = s.substr(0, pos); break;
      case 4: s.insert(pos, kInteresting[rng() % (sizeof(kInteresting) / sizeof(*kInteresting))]); break;
      case 5: {  // splice in part of another seed
        const std::string& other = seeds[rng() % seeds.size()].body;
        if (!other.empty()) s.insert(pos, other.substr(rng() % other.size(), 1 + rng() % 40));
        break;
      }
      default: if (pos < s.size()) s.replace(pos, 1, std::string(1 + rng() % 3, s[pos])); break;
    }
  }
  return s;
}

class ApiFuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::Open(bulwark::testing::UniqueTempDir() + "/db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store.value());
    cluster_ = std::make_unique<Cluster>(store_.get(), ClusterOptions{}, "fuzz");
    cluster_->Load(0);
    api_ = std::make_unique<Api>(cluster_.get(), &io_, ApiOptions{kAgent, kOperator, false, 1000}, &metrics_,
                                 [] { return size_t{0}; });
    api_->set_ready(true);
  }

  // Returns the status, or 0 when the request was parked (a long-poll).
  int Call(const std::string& method, const std::string& target, const std::string& body, const std::string& token) {
    http::Request r;
    r.method = method;
    http::SplitTarget(target, &r.path, &r.query);
    r.body = body;
    r.bearer_token = token;
    int status = 0, calls = 0;
    std::string answer;
    api_->Handle(r, [&](http::Response res) {
      ++calls;
      status = res.status;
      answer = res.body;
    });
    EXPECT_LE(calls, 1);
    if (status >= 400) {
      EXPECT_TRUE(nlohmann::json::parse(answer, nullptr, false).contains("error")) << answer;
    }
    EXPECT_TRUE(status == 0 || (status >= 200 && status < 500)) << method << " " << target << " " << body << " -> "
                                                                 << status << " " << answer;
    return status;
  }

  boost::asio::io_context io_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Cluster> cluster_;
  ControllerMetrics metrics_;
  std::unique_ptr<Api> api_;
};

// An agent whose command cursor counts a previous controller's ids is answered at once, so
// it starts over now; with this instance's ids its poll parks until news.
TEST_F(ApiFuzz, ACommandPollCountingAnotherInstancesIdsIsAnsweredAtOnce) {
  ASSERT_EQ(Call("POST", "/v1/agents/register", Seeds()[0].body, kAgent), 200);
  EXPECT_EQ(Call("GET", "/v1/agents/n1/commands?after=7&wait_ms=1000&instance=before-the-restart", "", kAgent), 200);
  EXPECT_EQ(Call("GET", "/v1/agents/n1/commands?after=7&wait_ms=1000&instance=" + cluster_->instance_id(), "", kAgent), 0)
      << "parked: nothing new for this instance's cursor";
  EXPECT_EQ(Call("GET", "/v1/agents/n1/commands?after=7&wait_ms=1000", "", kAgent), 0) << "no instance: as before";
}

TEST_F(ApiFuzz, MutatedRequestsNeverCrashOrFiveHundred) {
  const auto seeds = Seeds();
  for (const auto& s : seeds) Call(s.method, s.target, s.body, s.token);  // seeds are valid
  EXPECT_EQ(Call("GET", "/v1/nodes/n1", "", kOperator), 200);

  std::mt19937_64 rng(20261123);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  int runs = 0, accepted = 0;
  while (std::chrono::steady_clock::now() < deadline && runs < 200000) {
    const Seed& seed = seeds[rng() % seeds.size()];
    std::string target = seed.target, body = seed.body;
    if (rng() % 4 == 0) {
      target = Mutate(target, rng, seeds);
    } else {
      body = Mutate(body, rng, seeds);
    }
    const int status = Call(seed.method, target, body, seed.token);
    accepted += status >= 200 && status < 300;
    ++runs;
    if (HasFailure()) break;
  }
  std::printf("%d mutated requests, %d accepted, the rest refused with 4xx\n", runs, accepted);
  EXPECT_GT(runs, 1000);
  // Still sane: the node answers and valid requests still work.
  EXPECT_EQ(Call("POST", "/v1/agents/n1/heartbeat", "{}", kAgent), 200);
  EXPECT_EQ(Call("GET", "/v1/nodes", "", kOperator), 200);
}

TEST_F(ApiFuzz, MutatedRawHttpOverTcpLeavesTheServerServing) {
  http::ServerOptions options;
  options.max_body_bytes = 4096;
  options.idle_timeout_ms = 2000;
  options.body_timeout_ms = 500;
  auto server = http::Server::Start(io_, options, [this](http::Request r, http::Respond respond) {
    api_->Handle(std::move(r), std::move(respond));
  });
  ASSERT_TRUE(server.ok());
  const uint16_t port = server.value()->port();
  std::thread io_thread([this] { io_.run(); });
  const auto seeds = Seeds();
  std::mt19937_64 rng(7);
  int answered = 0;
  for (int i = 0; i < 300; ++i) {
    const Seed& s = seeds[rng() % seeds.size()];
    std::string raw = s.method + " " + s.target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.token +
                      "\r\nContent-Length: " + std::to_string(s.body.size()) + "\r\nConnection: close\r\n\r\n" + s.body;
    raw = Mutate(raw, rng, seeds);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    (void)!::write(fd, raw.data(), raw.size());
    ::shutdown(fd, SHUT_WR);
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      ++answered;
      const std::string head(buf, static_cast<size_t>(n));
      EXPECT_EQ(head.rfind("HTTP/1.1 ", 0), 0u) << head;
      EXPECT_EQ(head.find("HTTP/1.1 5"), std::string::npos) << head;
    }
    ::close(fd);
  }
  http::Client client("http://127.0.0.1:" + std::to_string(port), kOperator);
  auto health = client.Send("GET", "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_GT(answered, 100);
  io_.stop();
  io_thread.join();
}

}  // namespace
}  // namespace bulwark::controller
