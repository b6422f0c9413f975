// The list of channels that waits are waiting for, which decides whom a
// stored value wakes.

#include "util/waiting_channels.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>

namespace socketengine::detail {
namespace {

TEST(waiting_channels, a_channel_is_listed_while_its_entry_lives) {
  waiting_channels w;
  EXPECT_FALSE(w.maybe_any());
  EXPECT_FALSE(w.contains("done"));
  {
    auto e = w.add("done");
    EXPECT_TRUE(w.maybe_any());
    EXPECT_TRUE(w.contains("done"));
    EXPECT_FALSE(w.contains("x"));
    EXPECT_FALSE(w.contains("don"));
  }
  EXPECT_FALSE(w.contains("done"));
  EXPECT_FALSE(w.maybe_any());
}

TEST(waiting_channels, two_waits_on_one_channel_are_counted_apart) {
  waiting_channels w;
  std::optional<waiting_channels::entry> first;
  first.emplace(w, "c");
  {
    auto second = w.add("c");
    first.reset();
    EXPECT_TRUE(w.contains("c")); // the second still waits
  }
  EXPECT_FALSE(w.contains("c"));
}

TEST(waiting_channels, an_entry_leaves_the_list_when_its_wait_throws) {
  waiting_channels w;
  try {
    auto e = w.add("c");
    throw std::runtime_error("the wait failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(w.contains("c"));
  EXPECT_FALSE(w.maybe_any());
}

} // namespace
} // namespace socketengine::detail
