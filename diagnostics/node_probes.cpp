#include "diagnostics/node_probes.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/huge_page_allocator.h"

namespace bulwark::diagnostics {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::string Format(const char* format, double value) {
  char text[96];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

// Writes all of `data`, or false.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ProbeResult MemoryBandwidth(size_t bytes, int rounds) {
  // Populated up front: page faults would measure the kernel, not the memory.
  HugeVector<char> from(bytes), to(bytes);
  std::memset(from.data(), 0x5a, bytes);
  std::memset(to.data(), 0, bytes);
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(to.data(), from.data(), bytes);
    const double s = Seconds(start);
    if (s > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / s / 1e9);  // read + write
  }
  if (to[bytes / 2] != 0x5a) return {false, 0, "GB/s", "copied memory reads back wrong"};
  return {true, best, "GB/s", Format("%.1f GB/s copying ", best) + std::to_string(bytes >> 20) + " MiB"};
}

ProbeResult CpuArithmetic() {
  // Integer: a 64-bit LCG run 2^22 steps has one known value. Floating point: the sum of
  // 1/k^2 for k = 1..2^20 converges to pi^2/6 within 1e-6.
  constexpr uint64_t kSteps = 1u << 22;
  const auto start = std::chrono::steady_clock::now();
  volatile uint64_t seed = 1;
  uint64_t x = seed;
  for (uint64_t i = 0; i < kSteps; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  double sum = 0;
  for (int k = 1; k <= (1 << 20); ++k) sum += 1.0 / (static_cast<double>(k) * static_cast<double>(k));
  const double s = Seconds(start);
  // Reference: the same LCG computed by jumping ahead (a*x+c composed 2^22 times by squaring).
  uint64_t a = 6364136223846793005ULL, c = 1442695040888963407ULL, acc_a = 1, acc_c = 0;
  for (uint64_t n = kSteps; n > 0; n >>= 1) {
    if (n & 1) {
      acc_a *= a;
      acc_c = acc_c * a + c;
    }
    c = (a + 1) * c;
    a *= a;
  }
  const uint64_t expected = acc_a * seed + acc_c;
  const double pi2_6 = M_PI * M_PI / 6;
  if (x != expected) return {false, 0, "Gop/s", "integer arithmetic gave a wrong answer"};
  if (std::fabs(sum - pi2_6) > 1e-6) return {false, 0, "Gop/s", "floating-point arithmetic gave a wrong answer"};
  const double rate = static_cast<double>(kSteps + (1 << 20)) / s / 1e9;
  return {true, rate, "Gop/s", Format("known answers right; %.2f Gop/s", rate)};
}

ProbeResult LoopbackTcp(size_t bytes) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listener >= 0) ::close(listener);
    return {false, 0, "GB/s", std::string("cannot listen on loopback: ") + std::strerror(errno)};
  }
  size_t received = 0;
  std::thread reader([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    std::vector<char> buffer(1 << 20);
    ssize_t n;
    while ((n = ::recv(fd, buffer.data(), buffer.size(), 0)) > 0) received += static_cast<size_t>(n);
    ::close(fd);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const auto start = std::chrono::steady_clock::now();
  bool sent = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  std::vector<char> chunk(1 << 20, 'b');
  for (size_t done = 0; sent && done < bytes; done += chunk.size()) sent = WriteAll(fd, chunk.data(), chunk.size());
  if (fd >= 0) ::shutdown(fd, SHUT_WR);
  if (!sent) ::shutdown(listener, SHUT_RDWR);  // unblock the accept
  reader.join();
  const double s = Seconds(start);
  if (fd >= 0) ::close(fd);
  ::close(listener);
  if (!sent || received < bytes) {
    return {false, 0, "GB/s", "loopback TCP moved " + std::to_string(received) + " of " + std::to_string(bytes) + " bytes"};
  }
  const double rate = static_cast<double>(bytes) / s / 1e9;
  return {true, rate, "GB/s", Format("%.2f GB/s through loopback TCP", rate)};
}

ProbeResult HttpRoundTrip(const std::string& address, const std::string& path, int rounds) {
  http::Client client("http://" + address, "", 2000);
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = client.Send("GET", path);
    if (!r.ok()) return {false, 0, "us", address + " unreachable: " + r.status().message()};
    if (r->status != 200) return {false, 0, "us", address + path + " answered HTTP " + std::to_string(r->status)};
    us.push_back(Seconds(start) * 1e6);
  }
  std::sort(us.begin(), us.end());
  const double median = us[us.size() / 2];
  return {true, median, "us", address + Format(": %.0f us round trip (median)", median)};
}

}  // namespace bulwark::diagnostics
