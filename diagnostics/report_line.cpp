#include "diagnostics/report_line.h"

namespace bulwark::diagnostics {

std::optional<std::string> LastJsonLine(const std::string& output) {
  size_t end = output.size();
  while (end > 0) {
    const size_t newline = output.rfind('\n', end - 1);
    const size_t from = newline == std::string::npos ? 0 : newline + 1;
    if (from < end && output[from] == '{') return output.substr(from, end - from);
    if (newline == std::string::npos) break;
    end = newline;
  }
  return std::nullopt;
}

std::string Tail(const std::string& text) {
  const size_t keep = 300;
  return text.size() <= keep ? text : "..." + text.substr(text.size() - keep);
}

}  // namespace bulwark::diagnostics
