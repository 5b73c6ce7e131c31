// Load on the controller from simulated agents: registration, then 1 Hz heartbeats from
// every node plus a telemetry batch (8 ranks x 4 communicators) every 5 s per node, over
// keep-alive connections. The controller is the real binary in its own process, so its CPU
// time is read from /proc. Baseline in the same run: the same request rate against
// /healthz (the HTTP floor), so cpu_per_request_vs_healthz says what our logic costs.
//   bench_controller [--nodes N] [--seconds S] [--connections C]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/telemetry.h"
#include "common/token.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One batch for 8 ranks with 4 communicators each, with 8 calls' timings per communicator:
// what an agent of a busy 8-GPU node ships every second.
std::string Telemetry() {
  bulwark::TelemetryBatch batch;
  batch.time_ms = 1795430213074;
  for (int r = 0; r < 8; ++r) {
    bulwark::RankTelemetry rank;
    rank.rank = r;
    rank.pid = 40000 + r;
    rank.state = "R";
    for (int c = 0; c < 4; ++c) {
      bulwark::CommStats s;
      s.comm = "00000000c" + std::to_string(c) + "f3a9b2";
      s.op = c == 0 ? "allreduce" : "allgather";
      s.calls = 1200;
      s.bytes = 268435456;
      s.mean_us = 1834.25;
      s.max_us = 2990.5;
      s.p50_us = 1790.5;
      s.p99_us = 2875.25;
      s.last_seq = 98231;
      s.last_seq_done = 98230;
      s.comm_rank = r;
      for (int k = 0; k < 8; ++k) s.timings.push_back({static_cast<uint64_t>(98222 + k), 1790.5 + k, 51234.75 - k});
      rank.comms.push_back(std::move(s));
    }
    batch.ranks.push_back(std::move(rank));
  }
  return bulwark::TelemetryBody({batch});
}

struct Phase {
  std::string name;
  bool healthz_only;
};

struct Stats {
  std::vector<double> latency_ms;
  uint64_t requests = 0, errors = 0;
};

// One keep-alive connection sending its nodes' requests on a fixed schedule.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& io, asio::ip::tcp::endpoint ep, std::vector<int> nodes, const std::string& token, bool healthz,
       Clock::time_point start, Clock::time_point end, Stats* stats, const std::string* telemetry)
      : stream_(io), timer_(io), ep_(ep), nodes_(std::move(nodes)), token_(token), healthz_(healthz), start_(start),
        end_(end), stats_(stats), telemetry_(telemetry) {}

  void Run() {
    stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->Next();
    });
  }

 private:
  void Next() {
    const auto interval = std::chrono::duration<double>(1.0 / static_cast<double>(nodes_.size()));
    const auto due = start_ + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(slot_));
    if (due >= end_) return;
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->Send(); });
  }

  void Send() {
    const int node = nodes_[slot_ % nodes_.size()];
    const bool telemetry = !healthz_ && slot_ % 5 == 0;
    req_ = {};
    req_.version(11);
    req_.set(bhttp::field::host, "controller");
    req_.set(bhttp::field::authorization, "Bearer " + token_);
    if (healthz_) {
      req_.method(bhttp::verb::get);
      req_.target("/healthz");
    } else {
      req_.method(bhttp::verb::post);
      req_.target("/v1/agents/sim-" + std::to_string(node) + (telemetry ? "/telemetry" : "/heartbeat"));
      req_.body() = telemetry ? *telemetry_ : R"({"ranks_running":8,"telemetry_buffered":0,"uptime_ms":1000})";
      req_.set(bhttp::field::content_type, "application/json");
    }
    req_.prepare_payload();
    sent_ = Clock::now();
    bhttp::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail();
      self->res_ = {};
      bhttp::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code ec, size_t) {
        if (ec) return self->Fail();
        self->stats_->latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - self->sent_).count());
        ++self->stats_->requests;
        if (self->res_.result_int() != 200) ++self->stats_->errors;
        ++self->slot_;
        self->Next();
      });
    });
  }

  void Fail() { ++stats_->errors; }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  asio::ip::tcp::endpoint ep_;
  std::vector<int> nodes_;
  std::string token_;
  bool healthz_;
  Clock::time_point start_, end_;
  Stats* stats_;
  const std::string* telemetry_;
  size_t slot_ = 0;
  Clock::time_point sent_;
  bhttp::request<bhttp::string_body> req_;
  bhttp::response<bhttp::string_body> res_;
  beast::flat_buffer buffer_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 16384, seconds = 15, connections = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--nodes") nodes = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (a == "--connections") connections = std::atoi(argv[i + 1]);
  }
  const std::string dir = std::filesystem::temp_directory_path() / ("bench-controller-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  bulwark::WriteNewTokenFile(dir + "/agent.token");
  bulwark::WriteNewTokenFile(dir + "/operator.token");
  // Steady state is what is measured: nodes must not go lost while the healthz baseline runs, so
  // the loss limit is a minute here (the default 3 s would turn the baseline into a mass loss).
  std::ofstream(dir + "/c.yaml") << "listen: 127.0.0.1:0\ndata_dir: " << dir << "/db\naddress_file: " << dir
                                 << "/addr\nheartbeat: {interval_ms: 1000, missed_beats: 60}\nauth: {agent_token_file: "
                                 << dir << "/agent.token, operator_token_file: " << dir << "/operator.token}\n";
  const std::string controller = std::filesystem::path(argv[0]).parent_path() / "bulwark-controller";
  const pid_t pid = fork();
  if (pid == 0) {
    execl(controller.c_str(), controller.c_str(), "--config", (dir + "/c.yaml").c_str(), nullptr);
    _exit(127);
  }
  while (!std::filesystem::exists(dir + "/addr")) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string address;
  std::ifstream(dir + "/addr") >> address;
  const std::string token = bulwark::ReadTokenFile(dir + "/agent.token").value();
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1))));

  // Registration: every simulated node once, over the same connection pool.
  const auto reg_start = Clock::now();
  {
    asio::io_context io;
    std::vector<std::thread> none;
    int done = 0;
    std::function<void(int)> reg;
    std::vector<std::shared_ptr<beast::tcp_stream>> streams;
    for (int c = 0; c < std::min(connections, nodes); ++c) {
      auto s = std::make_shared<beast::tcp_stream>(io);
      s->connect(ep);
      streams.push_back(s);
      auto next = std::make_shared<std::function<void(int)>>();
      *next = [&, s, next, c](int node) {
        if (node >= nodes) return;
        auto req = std::make_shared<bhttp::request<bhttp::string_body>>(bhttp::verb::post, "/v1/agents/register", 11);
        req->set(bhttp::field::host, "controller");
        req->set(bhttp::field::authorization, "Bearer " + token);
        req->body() = nlohmann::json{{"name", "sim-" + std::to_string(node)},
                                     {"failure_domain", {{"rack", "rack-" + std::to_string(node / 32)}, {"leaf", "leaf-" + std::to_string(node / 256)}}},
                                     {"nics", {{{"name", "ib0"}, {"type", "ib"}, {"speed_gbps", 400}, {"rail", 0}}}},
                                     {"gpus", 8}}.dump();
        req->prepare_payload();
        bhttp::async_write(*s, *req, [&, s, req, next, node](beast::error_code ec, size_t) {
          if (ec) return;
          auto buf = std::make_shared<beast::flat_buffer>();
          auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
          bhttp::async_read(*s, *buf, *res, [&, buf, res, next, node](beast::error_code ec, size_t) {
            if (ec) return;
            ++done;
            (*next)(node + static_cast<int>(streams.size()));
          });
        });
      };
      (*next)(c);
    }
    io.run();
    if (done != nodes) std::fprintf(stderr, "only %d of %d registrations succeeded\n", done, nodes);
  }
  const double reg_seconds = std::chrono::duration<double>(Clock::now() - reg_start).count();

  const std::string telemetry = Telemetry();
  nlohmann::json phases = nlohmann::json::object();
  double cpu_per_req[2] = {0, 0};
  for (const Phase& phase : {Phase{"healthz_baseline", true}, Phase{"agents", false}}) {
    const int phase_seconds = phase.healthz_only ? std::max(3, seconds / 3) : seconds;
    Stats stats;
    asio::io_context io;
    const auto start = Clock::now() + std::chrono::milliseconds(200);
    const auto end = start + std::chrono::seconds(phase_seconds);
    const int conns = std::min(connections, nodes);
    for (int c = 0; c < conns; ++c) {
      std::vector<int> mine;
      for (int n = c; n < nodes; n += conns) mine.push_back(n);
      std::make_shared<Conn>(io, ep, mine, token, phase.healthz_only, start, end, &stats, &telemetry)->Run();
    }
    std::this_thread::sleep_until(start);
    const double cpu0 = CpuSeconds(pid);
    io.run();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = CpuSeconds(pid) - cpu0;
    const double rate = static_cast<double>(stats.requests) / wall;
    cpu_per_req[phase.healthz_only ? 0 : 1] = cpu / static_cast<double>(std::max<uint64_t>(1, stats.requests));
    phases[phase.name] = {{"requests_per_s", rate},
                          {"controller_cpu_s_per_s", cpu / wall},
                          {"p50_ms", Percentile(stats.latency_ms, 0.50)},
                          {"p99_ms", Percentile(stats.latency_ms, 0.99)},
                          {"errors", stats.errors},
                          {"controller_cpu_us_per_request", 1e6 * cpu_per_req[phase.healthz_only ? 0 : 1]}};
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  const double wanted = nodes;  // one request per node per second; every 5th is a telemetry batch
  nlohmann::json out = {{"bench", "controller"},
                        {"simulated_nodes", nodes},
                        {"connections", std::min(connections, nodes)},
                        {"registration_s", reg_seconds},
                        {"offered_requests_per_s", wanted},
                        {"phases", phases},
                        {"cpu_per_request_vs_healthz", cpu_per_req[1] / std::max(1e-12, cpu_per_req[0])},
                        {"sustained_fraction_of_offered", phases["agents"]["requests_per_s"].get<double>() / wanted}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
