// The pool of large receive buffers: a frame's buffer, once its last owner
// lets go, is what the next frame of that size is read into; what it keeps
// is bounded in number, bytes and time; buffers outliving it are freed.

#include "util/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "protocol/native/frame_codec.hpp"
#include "protocol/native/frame_reader.hpp"

namespace socketengine::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t frame = 640 * 480 * 3;
constexpr std::chrono::milliseconds idle = 250ms;

TEST(buffer_pool, a_buffer_given_back_is_the_next_one_of_its_size) {
  auto pool = std::make_shared<buffer_pool>(4, 64 << 20, idle);
  auto first = pool->take(frame);
  const char* at = first.get();
  first.reset();
  EXPECT_EQ(pool->held_bytes(), frame);
  auto second = pool->take(frame);
  EXPECT_EQ(second.get(), at);
  EXPECT_EQ(pool->held_bytes(), 0u);
  // A little smaller fits too; far smaller, or larger, does not.
  second.reset();
  EXPECT_EQ(pool->take(frame - frame / 10).get(), at);
  auto big = pool->take(frame);
  big.reset();
  auto half = pool->take(frame / 2);
  auto more = pool->take(frame + 1);
  EXPECT_NE(half.get(), at);
  EXPECT_NE(more.get(), at);
  EXPECT_EQ(pool->held_bytes(), frame); // still there for a frame of its size
}

TEST(buffer_pool, keeps_no_more_than_its_bounds) {
  auto pool = std::make_shared<buffer_pool>(2, 3 * frame, idle);
  {
    auto a = pool->take(frame), b = pool->take(frame), c = pool->take(frame);
  }
  EXPECT_EQ(pool->held_bytes(), 2 * frame); // two buffers at most
  auto small_pool = std::make_shared<buffer_pool>(4, frame + frame / 2, idle);
  {
    auto a = small_pool->take(frame), b = small_pool->take(frame);
  }
  EXPECT_EQ(small_pool->held_bytes(), frame); // within the bytes allowed
}

TEST(buffer_pool, frees_what_has_waited_longer_than_its_idle_time) {
  auto pool = std::make_shared<buffer_pool>(4, 64 << 20, idle);
  const auto given_back = buffer_pool::clock::now();
  pool->take(frame).reset();
  pool->trim(given_back + idle / 2); // not long enough: kept
  EXPECT_EQ(pool->held_bytes(), frame);
  pool->trim(given_back + idle * 4);
  EXPECT_EQ(pool->held_bytes(), 0u);
  // Taken and given back again: its wait starts anew.
  pool->take(frame).reset();
  pool->trim(buffer_pool::clock::now());
  EXPECT_EQ(pool->held_bytes(), frame);
}

TEST(buffer_pool, buffers_may_outlive_it_and_come_back_from_any_thread) {
  auto pool = std::make_shared<buffer_pool>(4, 64 << 20, idle);
  auto kept = pool->take(frame);
  std::thread([b = pool->take(frame)]() mutable { b.reset(); }).join();
  EXPECT_EQ(pool->held_bytes(), frame);
  pool.reset();
  kept.reset(); // freed, not given back to a pool that is gone (LeakSanitizer checks)
}

TEST(buffer_pool, large_frames_are_read_into_the_buffer_of_the_last_one_let_go) {
  auto pool = std::make_shared<buffer_pool>(4, 64 << 20, idle);
  native::frame_reader reader(4 << 20, 4096, nullptr, pool.get());
  std::string bytes;
  const std::vector<std::uint8_t> pixels(frame, 'x');
  native::append_bytes(bytes, "camera", pixels);
  auto read_one = [&] {
    std::string_view rest(bytes);
    std::shared_ptr<const void> owner;
    while (!owner) {
      auto space = reader.prepare();
      auto n = std::min(space.size(), rest.size());
      std::copy_n(rest.data(), n, space.data());
      reader.commit(n);
      rest.remove_prefix(n);
      EXPECT_TRUE(reader.consume(
          [&](std::span<const std::uint8_t>, std::shared_ptr<const void> o) { owner = o; }));
    }
    return owner;
  };
  auto first = read_one();
  ASSERT_TRUE(first);
  const void* at = first.get();
  first.reset();
  EXPECT_GT(pool->held_bytes(), frame); // the frame's buffer came back
  auto second = read_one();
  EXPECT_EQ(second.get(), at);
  EXPECT_EQ(pool->held_bytes(), 0u); // and was taken again
}

} // namespace
} // namespace socketengine::detail
