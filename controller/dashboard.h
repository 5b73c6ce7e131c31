// The dashboard's files (controller/dashboard/, embedded at build time by embed.cmake) and
// how the controller answers for them. The page holds no data: it reads the REST API with
// the operator's token, so serving it needs no token.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"

namespace bulwark::controller {

struct DashboardFile {
  const char* name;  // relative to controller/dashboard/, e.g. "app.js"
  const char* data;
  size_t size;
};

const std::vector<DashboardFile>& DashboardFiles();

// The answer for a path under the dashboard ("/" and "/ui/" are its page, "/ui/NAME" a
// file); nullopt for any other path, or a file that does not exist.
std::optional<http::Response> DashboardResponse(const std::string& path);

}  // namespace bulwark::controller
