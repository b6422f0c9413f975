#pragma once
// The wait before a redial: exponential backoff, capped, then fully
// jittered ("full jitter": a uniformly random wait between zero and the
// cap), so that many peers that lost the same hub at the same moment
// spread their attempts over the whole interval instead of arriving
// together, attempt after attempt.

#include <algorithm>
#include <chrono>
#include <random>

namespace socketengine::detail {

/// The cap of the wait before attempt `attempt` (0 for the first):
/// `min_backoff` doubled once per attempt, no more than `max_backoff` (and
/// never below `min_backoff`).
inline std::chrono::microseconds backoff_cap(unsigned attempt, std::chrono::milliseconds min_backoff,
                                             std::chrono::milliseconds max_backoff) {
  using std::chrono::microseconds;
  auto floor = std::max(microseconds(min_backoff), microseconds(1));
  auto ceiling = std::max(microseconds(max_backoff), floor);
  auto cap = floor;
  // Doubling stops at the ceiling, so it cannot overflow.
  for (unsigned i = 0; i < attempt && cap < ceiling; ++i) cap *= 2;
  return std::min(cap, ceiling);
}

/// The wait before attempt `attempt`: uniformly random in [0, cap].
template <class Random>
std::chrono::microseconds backoff_delay(unsigned attempt, std::chrono::milliseconds min_backoff,
                                        std::chrono::milliseconds max_backoff, Random& random) {
  auto cap = backoff_cap(attempt, min_backoff, max_backoff);
  std::uniform_int_distribution<std::chrono::microseconds::rep> pick(0, cap.count());
  return std::chrono::microseconds(pick(random));
}

} // namespace socketengine::detail
