// A blocking HTTP/1.1 client on libcurl for the agent and bulwarkctl. One Client keeps one
// connection alive between calls; it is not thread-safe (give each thread its own).
#pragma once

#include <atomic>
#include <string>

#include "common/status.h"

namespace bulwark::http {

struct ClientResponse {
  long status = 0;
  std::string body;
};

class Client {
 public:
  // `base_url` like "http://127.0.0.1:7070"; `token` is sent as a bearer token if not empty.
  Client(std::string base_url, std::string token, long timeout_ms = 5000);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A transport failure (refused, timed out) is an error; any HTTP status is a response.
  Result<ClientResponse> Send(const std::string& method, const std::string& path, const std::string& body = "",
                              long timeout_ms = -1);
  const std::string& base_url() const { return base_url_; }
  // When set, a call in flight gives up soon after *cancel becomes true (for shutdown
  // during a long-poll).
  void set_cancel_flag(const std::atomic<bool>* cancel) { cancel_ = cancel; }
  // HTTPS servers are verified against this CA bundle (e.g. a Kubernetes service account's
  // ca.crt) instead of the system's.
  void set_ca_file(std::string path) { ca_file_ = std::move(path); }
  // The request body's media type (default application/json).
  void set_content_type(std::string type) { content_type_ = std::move(type); }

 private:
  std::string base_url_;
  std::string token_;
  long timeout_ms_;
  const std::atomic<bool>* cancel_ = nullptr;
  std::string ca_file_;
  std::string content_type_ = "application/json";
  void* curl_;  // CURL*, kept for connection reuse
};

// Percent-encodes a path segment or query value.
std::string UrlEncode(const std::string& text);

}  // namespace bulwark::http
