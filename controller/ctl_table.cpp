#include "controller/ctl_table.h"

#include <algorithm>
#include <cstdio>

namespace bulwark::ctl {

std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      text += cell;
      if (c + 1 < width.size()) text += std::string(width[c] - cell.size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string Ago(long long ms) {
  char text[64];
  if (ms < 60'000) {
    std::snprintf(text, sizeof(text), "%.1f s ago", ms / 1000.0);
  } else if (ms < 3'600'000) {
    std::snprintf(text, sizeof(text), "%lld min ago", ms / 60'000);
  } else {
    std::snprintf(text, sizeof(text), "%lld h ago", ms / 3'600'000);
  }
  return text;
}

std::string Fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

}  // namespace bulwark::ctl
