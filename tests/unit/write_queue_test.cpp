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
