// The HTTP server over real loopback TCP: keep-alive, limits, malformed requests answered
// with a clear 4xx, and the server still serving afterwards.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include <thread>

#include "common/http_client.h"

namespace bulwark::http {
namespace {

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.max_body_bytes = 1024;
    options.max_header_bytes = 2048;
    auto server = Server::Start(io_, options, [this](Request r, Respond respond) {
      ++requests_;
      respond({200, "{\"path\":\"" + r.path + "\",\"body_bytes\":" + std::to_string(r.body.size()) + ",\"x\":\"" +
                        (r.query.count("x") ? r.query["x"] : "") + "\",\"token\":\"" + r.bearer_token + "\"}"});
    });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server.value());
    thread_ = std::thread([this] { io_.run(); });
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    io_.stop();
    thread_.join();
  }

  // Sends raw bytes on a fresh connection and returns everything the server answered.
  std::string Raw(const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
    ::close(fd);
    return out;
  }

  boost::asio::io_context io_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::string url_;
  std::atomic<int> requests_{0};
};

TEST_F(ServerFixture, AnswersDecodedPathQueryAndTokenOverKeepAlive) {
  Client client(url_, "secret-token-123456");
  for (int i = 0; i < 20; ++i) {
    auto r = client.Send("POST", "/a%20b?x=1+2%21", "hello");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"path":"/a b","body_bytes":5,"x":"1 2!","token":"secret-token-123456"})");
  }
  EXPECT_EQ(server_->open_connections(), 1u) << "20 requests should share one kept-alive connection";
}

TEST_F(ServerFixture, OversizedBodyIs413AndServerKeepsServing) {
  Client client(url_, "");
  auto r = client.Send("POST", "/x", std::string(5000, 'a'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("exceeds the limit of 1024 bytes"), std::string::npos) << r->body;
  EXPECT_EQ(Client(url_, "").Send("GET", "/ok")->status, 200);
}

TEST_F(ServerFixture, OversizedHeaderIs431) {
  const std::string reply = Raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n");
  EXPECT_NE(reply.find("HTTP/1.1 431"), std::string::npos) << reply;
}

TEST_F(ServerFixture, GarbageIs400NamingTheProblem) {
  const std::string reply = Raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_NE(reply.find(" 400 "), std::string::npos) << reply;
  EXPECT_NE(reply.find("malformed HTTP request"), std::string::npos) << reply;
  EXPECT_EQ(requests_.load(), 0) << "a malformed request must not reach the handler";
  EXPECT_EQ(Client(url_, "").Send("GET", "/still-here")->status, 200);
}

TEST(PercentDecodeTest, KeepsMalformedEscapes) {
  EXPECT_EQ(PercentDecode("a%2", false), "a%2");
  EXPECT_EQ(PercentDecode("%zz+", false), "%zz+");
  EXPECT_EQ(PercentDecode("%41+", true), "A ");
}

}  // namespace
}  // namespace bulwark::http
