// Wall and monotonic clocks in milliseconds, and a log line with a UTC timestamp.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace bulwark {

inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "2026-11-23T10:15:02.123Z"
inline std::string IsoTime(int64_t wall_ms) {
  const time_t seconds = static_cast<time_t>(wall_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];  // roomy: the compiler cannot bound tm_year
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(wall_ms % 1000));
  return text;
}

// One line on stderr: "<time> <who>: <message>".
inline void LogLine(const std::string& who, const std::string& message) {
  std::fprintf(stderr, "%s %s: %s\n", IsoTime(WallMs()).c_str(), who.c_str(), message.c_str());
}

}  // namespace bulwark
