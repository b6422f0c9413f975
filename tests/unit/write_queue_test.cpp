// The segments a connection queues for one gathering write: small messages
// copied together, shared encodings queued by reference, and what is kept
// or given back when the queue empties.

#include "connection/write_queue.hpp"

#include <gtest/gtest.h>

#include <string>

namespace socketengine::detail {
namespace {

std::string joined(const write_queue& q) {
  std::string out;
  for (const auto& b : q.buffers()) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

TEST(write_queue, small_messages_go_into_one_buffer) {
  write_queue q;
  EXPECT_TRUE(q.empty());
  q.append("one,");
  q.append("two,");
  q.append("three");
  EXPECT_EQ(q.size(), 13u);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.buffers().size(), 1u);
  EXPECT_EQ(joined(q), "one,two,three");
}

TEST(write_queue, a_shared_block_is_queued_by_reference_in_its_place) {
  write_queue q;
  auto frame = std::make_shared<const std::string>(100'000, 'f');
  q.append("before");
  q.append_shared(frame);
  q.append("after");
  auto buffers = q.buffers();
  ASSERT_EQ(buffers.size(), 3u);
  EXPECT_EQ(buffers[1].data(), frame->data()); // not copied
  EXPECT_EQ(q.size(), 6u + 100'000u + 5u);
  EXPECT_EQ(joined(q), "before" + *frame + "after");
  EXPECT_EQ(frame.use_count(), 2); // the queue holds it
  q.release();
  EXPECT_EQ(frame.use_count(), 1);
}

TEST(write_queue, pixels_are_queued_by_reference_and_held_until_cleared) {
  write_queue q;
  image img(640, 480, pixel_order::bgr);
  img.pixels()[0] = 7;
  auto head = std::make_shared<const std::string>("head");
  q.append_shared(head);
  q.append_pixels(img);
  q.append("after");
  auto buffers = q.buffers();
  ASSERT_EQ(buffers.size(), 3u);
  EXPECT_EQ(buffers[1].data(), img.data()); // the caller's pixels, not a copy
  EXPECT_EQ(buffers[1].size(), img.size_bytes());
  EXPECT_EQ(q.size(), 4u + img.size_bytes() + 5u);
  EXPECT_EQ(img.use_count(), 2); // the queue holds the image
  // Small messages after the pixels go into a segment of their own.
  q.append("more");
  EXPECT_EQ(q.buffers().size(), 3u);
  EXPECT_EQ(joined(q).substr(4 + img.size_bytes()), "aftermore");
  q.clear(256 * 1024);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(img.use_count(), 1);
  q.append_pixels(img);
  q.release();
  EXPECT_EQ(img.use_count(), 1);
  q.append_pixels(image()); // nothing to send
  EXPECT_TRUE(q.empty());
}

TEST(write_queue, clear_keeps_a_small_buffer_for_the_next_messages) {
  write_queue q;
  q.append(std::string(1000, 'a'));
  const auto* kept = q.buffers().front().data();
  q.clear(256 * 1024);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.buffers().empty());
  q.append("next");
  EXPECT_EQ(q.buffers().front().data(), kept); // the same memory, reused
  EXPECT_EQ(joined(q), "next");
}

TEST(write_queue, clear_gives_back_a_buffer_that_grew_past_the_bound) {
  write_queue q;
  q.append(std::string(300 * 1024, 'a'));
  q.clear(256 * 1024);
  q.append("x");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(joined(q), "x");
}

TEST(write_queue, swap_exchanges_contents) {
  write_queue a, b;
  a.append("pending");
  a.swap(b);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(joined(b), "pending");
  EXPECT_EQ(b.size(), 7u);
}

} // namespace
} // namespace socketengine::detail
