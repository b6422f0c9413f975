#pragma once
// Deadlines for waits that take a user's timeout: a huge timeout (the seed's
// "retry forever" is milliseconds::max()) must not overflow the clock.

#include <chrono>

namespace socketengine::detail {

/// a + b, saturating at milliseconds::max().
inline std::chrono::milliseconds saturating_add(std::chrono::milliseconds a,
                                                std::chrono::milliseconds b) {
  return a > std::chrono::milliseconds::max() - b ? std::chrono::milliseconds::max() : a + b;
}

/// steady_clock::now() + d, saturating instead of overflowing for huge d;
/// now for d <= 0.
inline std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds d) {
  using std::chrono::steady_clock;
  auto now = steady_clock::now();
  if (d.count() <= 0) return now;
  if (d >= std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::time_point::max() -
                                                                 now))
    return steady_clock::time_point::max();
  return now + d;
}

} // namespace socketengine::detail
