#include "controller/dashboard.h"

namespace bulwark::controller {
namespace {

std::string ContentType(std::string_view name) {
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

std::optional<http::Response> DashboardResponse(const std::string& path) {
  std::string name;
  if (path == "/" || path == "/ui" || path == "/ui/") {
    name = "index.html";
  } else if (path.rfind("/ui/", 0) == 0) {
    name = path.substr(4);
  } else {
    return std::nullopt;
  }
  for (const auto& f : DashboardFiles()) {
    if (name == f.name) return http::Response{200, std::string(f.data, f.size), ContentType(name)};
  }
  return std::nullopt;
}

}  // namespace bulwark::controller
