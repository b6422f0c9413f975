// The waits between redials: capped exponential growth, then full jitter.

#include "util/backoff.hpp"

#include <gtest/gtest.h>

#include <random>

namespace socketengine::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;

TEST(backoff, the_cap_doubles_from_the_minimum_and_stops_at_the_maximum) {
  EXPECT_EQ(backoff_cap(0, 100ms, 5s), microseconds(100ms));
  EXPECT_EQ(backoff_cap(1, 100ms, 5s), microseconds(200ms));
  EXPECT_EQ(backoff_cap(5, 100ms, 5s), microseconds(3200ms));
  EXPECT_EQ(backoff_cap(6, 100ms, 5s), microseconds(5s));
  EXPECT_EQ(backoff_cap(1000, 100ms, 5s), microseconds(5s)); // no overflow
  EXPECT_EQ(backoff_cap(3, 2s, 1s), microseconds(2s));        // max below min: min
}

TEST(backoff, each_wait_is_a_random_fraction_of_its_cap) {
  std::minstd_rand random(7);
  auto cap = backoff_cap(10, 100ms, 1s);
  int low = 0, high = 0;
  for (int i = 0; i < 1000; ++i) {
    auto d = backoff_delay(10, 100ms, 1s, random);
    ASSERT_GE(d.count(), 0);
    ASSERT_LE(d, cap);
    low += d < cap / 4 ? 1 : 0;
    high += d > cap * 3 / 4 ? 1 : 0;
  }
  // Spread over the whole interval, not bunched at the cap: clients that
  // lost the same hub come back at different moments.
  EXPECT_GT(low, 150);
  EXPECT_GT(high, 150);
}

} // namespace
} // namespace socketengine::detail
