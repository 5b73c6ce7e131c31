// Plain-text tables for bulwarkctl: columns padded to their widest cell.
#pragma once

#include <string>
#include <vector>

namespace bulwark::ctl {

std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// `v` with `digits` decimals ("1.000").
std::string Fixed(double v, int digits);

// "1.2 s ago", "3 min ago" for a duration in milliseconds.
std::string Ago(long long ms);

}  // namespace bulwark::ctl
