// Bearer tokens: read from files (never from command lines, where `ps` shows them),
// compared in constant time, made from the kernel's random source.
#pragma once

#include <string>

#include "common/status.h"

namespace bulwark {

// The file's content without surrounding whitespace; it must be at least 16 printable
// characters with no whitespace inside.
Result<std::string> ReadTokenFile(const std::string& path);

// Equal contents, in time that depends only on the lengths.
bool TokensEqual(const std::string& a, const std::string& b);

// 32 random bytes as 64 hex digits.
std::string NewToken();

// Writes a new token to `path` with mode 0600.
Status WriteNewTokenFile(const std::string& path);

}  // namespace bulwark
