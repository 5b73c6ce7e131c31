// "127.0.0.1:7070" -> host and port, for every listen/connect setting.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace bulwark {

// Port 0 is allowed (the kernel picks one).
Status ParseHostPort(const std::string& text, std::string* host, uint16_t* port);

}  // namespace bulwark
