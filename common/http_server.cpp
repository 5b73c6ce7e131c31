#include "common/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <optional>

namespace bulwark::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& io, ServerOptions opts, Handler h)
      : io(io), options(std::move(opts)), handler(std::move(h)), acceptor(io) {}
  void Accept();

  asio::io_context& io;
  ServerOptions options;
  Handler handler;
  tcp::acceptor acceptor;
  std::atomic<size_t> connections{0};
};

namespace {

std::string ErrorBody(const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped += c;
  }
  return "{\"error\":\"" + escaped + "\"}";
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    ++server_->connections;
  }
  ~Session() { --server_->connections; }

  void Start() { ReadHeader(); }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
    stream_.expires_after(std::chrono::milliseconds(server_->options.idle_timeout_ms));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    stream_.expires_after(std::chrono::milliseconds(server_->options.body_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      return Close();
    }
    Response r;
    if (ec == bhttp::error::body_limit) {
      r.status = 413;
      r.body = ErrorBody("request body exceeds the limit of " + std::to_string(server_->options.max_body_bytes) +
                         " bytes");
    } else if (ec == bhttp::error::header_limit) {
      r.status = 431;
      r.body = ErrorBody("request header exceeds the limit of " +
                         std::to_string(server_->options.max_header_bytes) + " bytes");
    } else {
      r.status = 400;
      r.body = ErrorBody("malformed HTTP request: " + ec.message());
    }
    keep_alive_ = false;
    Write(std::move(r), 11);
  }

  void OnRequest(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    SplitTarget(std::string(msg.target()), &req.path, &req.query);
    req.body = std::move(msg.body());
    auto auth = msg.find(bhttp::field::authorization);
    if (auth != msg.end()) {
      std::string value(auth->value());
      if (value.rfind("Bearer ", 0) == 0) req.bearer_token = value.substr(7);
    }
    if (auto type = msg.find(bhttp::field::content_type); type != msg.end()) req.content_type = std::string(type->value());
    keep_alive_ = msg.keep_alive();
    const unsigned version = msg.version();
    // No timer while the handler holds the request (a long-poll may park it for a while).
    stream_.expires_never();
    auto answered = std::make_shared<bool>(false);
    Respond respond = [self = shared_from_this(), answered, version](Response r) {
      if (*answered) return;
      *answered = true;
      self->Write(std::move(r), version);
    };
    try {
      server_->handler(std::move(req), respond);
    } catch (const std::exception& e) {  // a handler bug must cost one request, not the server
      respond({500, ErrorBody(std::string("internal error: ") + e.what())});
    }
  }

  void Write(Response r, unsigned version) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), version);
    res->set(bhttp::field::server, "bulwark");
    res->set(bhttp::field::content_type, r.content_type);
    res->keep_alive(keep_alive_);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) return self->Close();
      self->ReadHeader();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Server::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void Server::Impl::Accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (!ec) {
      if (self->connections >= self->options.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), self)->Start();
      }
    }
    self->Accept();
  });
}

Result<std::unique_ptr<Server>> Server::Start(asio::io_context& io, const ServerOptions& options, Handler handler) {
  auto impl = std::make_shared<Impl>(io, options, std::move(handler));
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::Error("listen address '" + options.host + "' is not an IP address: " + ec.message());
  tcp::endpoint endpoint(address, options.port);
  const std::string where = options.host + ":" + std::to_string(options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Error("cannot listen on " + where + ": " + ec.message());
  impl->Accept();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }

uint16_t Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

size_t Server::open_connections() const { return impl_->connections; }

void Server::Stop() {
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::string PercentDecode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && text[i] == '+') ? ' ' : text[i];
  }
  return out;
}

void SplitTarget(const std::string& target, std::string* path, std::map<std::string, std::string>* query) {
  const size_t q = target.find('?');
  *path = PercentDecode(target.substr(0, q), false);
  query->clear();
  if (q == std::string::npos) return;
  const std::string rest = target.substr(q + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('&', start);
    if (end == std::string::npos) end = rest.size();
    const std::string pair = rest.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      (*query)[PercentDecode(pair.substr(0, eq), true)] =
          eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
    }
    start = end + 1;
  }
}

}  // namespace bulwark::http
