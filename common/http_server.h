// A small HTTP/1.1 server on Boost.Beast: keep-alive, many concurrent connections on one
// thread, limits on header and body size, timeouts for idle and slow clients.
//
// The handler runs on the io_context's thread and answers through `Respond`, now or later:
// a long-poll parks the Respond and calls it when there is news. Call it exactly once.
// Malformed requests never reach the handler: the server answers 400/413/431 itself with a
// message naming the problem, closes that connection, and keeps serving the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace boost::asio {
class io_context;
}

namespace bulwark::http {

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // percent-decoded, without the query
  std::map<std::string, std::string> query;  // percent-decoded
  std::string body;
  std::string bearer_token;  // from "Authorization: Bearer ...", empty if absent
  std::string content_type;  // as sent, empty if absent
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request, Respond)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the kernel picks one; see Server::port()
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  int idle_timeout_ms = 75'000;     // a keep-alive connection with no request is closed
  int body_timeout_ms = 10'000;     // a started request must arrive within this
  int write_timeout_ms = 10'000;
  size_t max_connections = 60'000;  // beyond this, new connections are closed at once
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(boost::asio::io_context& io, const ServerOptions& options,
                                               Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  size_t open_connections() const;
  // Stops accepting; open connections finish when the io_context stops.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// "a%20b" -> "a b" (and "a+b" -> "a b" in a query); malformed escapes are kept as they are.
std::string PercentDecode(const std::string& text, bool plus_is_space);
// Splits "/v1/nodes?x=1&y=2" into a decoded path and query map.
void SplitTarget(const std::string& target, std::string* path, std::map<std::string, std::string>* query);

}  // namespace bulwark::http
