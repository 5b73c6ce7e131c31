#include "agent/link_shaper.h"

#include <algorithm>

namespace bulwark::agent {

std::optional<int64_t> LinkShaper::Admit(int direction, int64_t now_us, size_t bytes) {
  if (direction < 0 || direction >= kDirections) return std::nullopt;
  if (shape_.loss_percent > 0 && std::uniform_real_distribution<double>(0, 100)(random_) < shape_.loss_percent) {
    return std::nullopt;
  }
  int64_t sent_at = now_us;
  if (shape_.rate_mbit > 0) {
    const int64_t start = std::max(now_us, sent_until_us_[direction]);
    if (start - now_us > shape_.max_queue_us) return std::nullopt;  // the queue is full
    // bits / (Mbit/s) = microseconds
    sent_at = start + static_cast<int64_t>(static_cast<double>(bytes) * 8 / shape_.rate_mbit);
    sent_until_us_[direction] = sent_at;
  }
  return sent_at + shape_.delay_us;
}

}  // namespace bulwark::agent
