// The frame reader's buffers: what it holds while frames come and when idle,
// a large frame read into a buffer of exactly its size, bytes handed over at
// the switch, and stop(). (Decoding every kind of frame through it, cut at
// every offset, is in frame_codec_test.)

#include "protocol/native/frame_reader.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/native/frame_codec.hpp"

namespace socketengine::detail::native {
namespace {

constexpr std::size_t buffer_size = 4096;

std::string json_frame(std::string_view channel, int v) {
  std::string out;
  append_value(out, channel, value(v));
  return out;
}

// Copies `bytes` into the reader as the socket would, in reads as large as
// it offers.
void feed(frame_reader& r, std::string_view bytes) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
  }
}

std::vector<std::size_t> sizes_of(frame_reader& r) {
  std::vector<std::size_t> sizes;
  EXPECT_TRUE(r.consume([&](std::span<const std::uint8_t> body, const std::shared_ptr<const void>&) {
    sizes.push_back(body.size());
  }));
  return sizes;
}

TEST(frame_reader, holds_nothing_until_bytes_come_and_nothing_once_idle) {
  frame_reader r(1 << 20, buffer_size);
  EXPECT_EQ(r.held(), 0u);
  feed(r, json_frame("c", 1));
  EXPECT_EQ(r.held(), buffer_size);
  EXPECT_EQ(sizes_of(r).size(), 1u);
  EXPECT_EQ(r.pending(), 0u);
  r.release_if_empty();
  EXPECT_EQ(r.held(), 0u);
}

TEST(frame_reader, keeps_its_buffer_while_a_frame_is_unfinished) {
  frame_reader r(1 << 20, buffer_size);
  auto f = json_frame("c", 1);
  feed(r, std::string_view(f).substr(0, 5));
  EXPECT_TRUE(sizes_of(r).empty());
  EXPECT_EQ(r.pending(), 5u);
  r.release_if_empty(); // not empty: the half frame must stay
  EXPECT_EQ(r.held(), buffer_size);
  feed(r, std::string_view(f).substr(5));
  EXPECT_EQ(sizes_of(r).size(), 1u);
}

TEST(frame_reader, a_large_frame_gets_a_buffer_of_its_exact_size) {
  frame_reader r(1 << 20, buffer_size);
  std::string big;
  append_bytes(big, "b", std::vector<std::uint8_t>(100'000, 7));
  feed(r, std::string_view(big).substr(0, 1000));
  EXPECT_TRUE(sizes_of(r).empty());
  EXPECT_EQ(r.wanted(), big.size());
  // The small buffer went: what came so far moved into the large one.
  EXPECT_EQ(r.held(), big.size());
  auto space = r.prepare();
  EXPECT_EQ(space.size(), big.size() - 1000); // the socket reads the rest into place
  feed(r, std::string_view(big).substr(1000));
  std::shared_ptr<const void> owner;
  ASSERT_TRUE(r.consume([&](std::span<const std::uint8_t> body, std::shared_ptr<const void> o) {
    EXPECT_EQ(body.size(), big.size() - size_field);
    owner = std::move(o);
  }));
  ASSERT_TRUE(owner); // the frame owns its buffer, which outlives the walk
  EXPECT_EQ(r.held(), 0u);
  r.release();
  EXPECT_EQ(static_cast<const char*>(owner.get())[big.size() - 1], 7);
}

TEST(frame_reader, bytes_handed_over_at_the_switch_come_first) {
  frame_reader r(1 << 20, buffer_size);
  auto first = json_frame("a", 1) + json_frame("b", 2);
  r.assign(first.substr(0, first.size() - 3));
  feed(r, first.substr(first.size() - 3));
  EXPECT_EQ(sizes_of(r).size(), 2u);
}

TEST(frame_reader, stop_ends_the_walk_and_the_rest_waits) {
  frame_reader r(1 << 20, buffer_size);
  feed(r, json_frame("a", 1) + json_frame("b", 2) + json_frame("c", 3));
  int seen = 0;
  ASSERT_TRUE(r.consume([&](std::span<const std::uint8_t>, const std::shared_ptr<const void>&) {
    if (++seen == 1) r.stop();
  }));
  EXPECT_EQ(seen, 1);
  EXPECT_GT(r.pending(), 0u);
  EXPECT_EQ(sizes_of(r).size(), 2u);
}

TEST(frame_reader, a_bad_size_stops_the_stream_and_says_what_it_was) {
  frame_reader r(1000, buffer_size);
  std::string f;
  append_bytes(f, "b", std::vector<std::uint8_t>(2000, 1));
  feed(r, std::string_view(f).substr(0, 64));
  EXPECT_FALSE(r.consume([](std::span<const std::uint8_t>, const std::shared_ptr<const void>&) {}));
  EXPECT_EQ(r.bad_size(), f.size() - size_field);
  EXPECT_LE(r.held(), buffer_size); // nothing of the claimed size was allocated
}

} // namespace
} // namespace socketengine::detail::native

namespace socketengine::detail::native {
namespace {

TEST(frame_reader, buffers_are_charged_to_the_budget_while_the_reader_holds_them) {
  memory_budget budget(200'000);
  std::string big;
  append_bytes(big, "b", std::vector<std::uint8_t>(100'000, 7));
  {
    frame_reader r(1 << 20, buffer_size, &budget);
    feed(r, json_frame("x", 1));
    EXPECT_EQ(budget.used(), buffer_size); // the small buffer
    EXPECT_EQ(sizes_of(r).size(), 1u);
    r.release_if_empty();
    EXPECT_EQ(budget.used(), 0u);
    // A large frame's own buffer, from its size field on, until handed out.
    feed(r, std::string_view(big).substr(0, 1000));
    EXPECT_TRUE(sizes_of(r).empty());
    EXPECT_EQ(budget.used(), big.size());
    feed(r, std::string_view(big).substr(1000));
    std::shared_ptr<const void> owner;
    ASSERT_TRUE(r.consume([&](std::span<const std::uint8_t>, std::shared_ptr<const void> o) {
      owner = std::move(o);
    }));
    EXPECT_EQ(budget.used(), 0u); // the frame's now
    feed(r, std::string_view(big).substr(0, 1000));
    EXPECT_TRUE(sizes_of(r).empty());
    EXPECT_EQ(budget.used(), big.size());
  }
  EXPECT_EQ(budget.used(), 0u); // a reader gone gives back what it held
}

TEST(frame_reader, a_frame_that_would_pass_the_budget_is_refused_before_it_is_allocated) {
  memory_budget budget(50'000);
  frame_reader other(1 << 20, buffer_size, &budget);
  feed(other, json_frame("x", 1)); // another connection holds a little
  frame_reader r(1 << 20, buffer_size, &budget);
  std::string big;
  append_bytes(big, "b", std::vector<std::uint8_t>(100'000, 7));
  feed(r, std::string_view(big).substr(0, 100));
  auto before = budget.used();
  EXPECT_THROW(sizes_of(r), over_budget);
  EXPECT_EQ(budget.used(), before);
  EXPECT_LE(budget.used(), budget.limit());
  r.release();
  other.release();
  EXPECT_EQ(budget.used(), 0u);
}

} // namespace
} // namespace socketengine::detail::native
