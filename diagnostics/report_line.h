// The self-check programs (bulwark-mpi-check, bulwark-gpu-check) print their report as the
// last JSON line of their output, after whatever the launcher or driver said.
#pragma once

#include <optional>
#include <string>

namespace bulwark::diagnostics {

// The last line of `output` that starts with '{' (unparsed), if any.
std::optional<std::string> LastJsonLine(const std::string& output);

// The end of `text` (at most 300 bytes), to quote in an error.
std::string Tail(const std::string& text);

}  // namespace bulwark::diagnostics
