#include "common/host_port.h"

namespace bulwark {

Status ParseHostPort(const std::string& text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return Status::Error("'" + text + "' is not host:port");
  const std::string port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65535) {
    return Status::Error("'" + text + "' has no valid port (0-65535)");
  }
  *host = text.substr(0, colon);
  *port = static_cast<uint16_t>(std::stoi(port_text));
  return Status::Ok();
}

}  // namespace bulwark
