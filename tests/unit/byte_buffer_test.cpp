#include "util/byte_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace socketengine::detail {
namespace {

// Fills `n` bytes at `p` with a pattern that `holds` checks.
void fill(char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 7 + i / 4096);
}
bool holds(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != static_cast<char>(i * 7 + i / 4096)) return false;
  return true;
}

TEST(byte_buffer, growing_keeps_what_was_asked_from_the_heap_to_pages_and_on) {
  byte_buffer b(1000);
  ASSERT_GE(b.size(), 1000u);
  fill(b.data(), 1000);
  b.grow(100'000, 1000); // on the heap
  ASSERT_GE(b.size(), 100'000u);
  EXPECT_TRUE(holds(b.data(), 1000));
  fill(b.data(), 100'000);
  b.grow(byte_buffer::mapped_from, 100'000); // to pages
  ASSERT_GE(b.size(), byte_buffer::mapped_from);
  EXPECT_TRUE(holds(b.data(), 100'000));
  std::size_t n = b.size();
  fill(b.data(), n);
  for (std::size_t size = 2 * n; size <= (std::size_t{64} << 20); size *= 2) {
    b.grow(size, n); // remapped
    ASSERT_GE(b.size(), size);
    ASSERT_TRUE(holds(b.data(), n)) << "lost bytes growing to " << size;
    fill(b.data(), b.size());
    n = b.size();
  }
}

TEST(byte_buffer, growing_keeps_only_the_bytes_asked_for_and_never_shrinks) {
  byte_buffer b(4096);
  fill(b.data(), 4096);
  std::size_t before = b.size();
  b.grow(100, 100);
  EXPECT_EQ(b.size(), before);
  EXPECT_TRUE(holds(b.data(), 4096));
  b.grow(1u << 20, 0); // nothing to keep: still a buffer of that size
  EXPECT_GE(b.size(), 1u << 20);
}

TEST(byte_buffer, moves_hand_over_the_bytes_and_reset_frees_them) {
  byte_buffer a(byte_buffer::mapped_from * 2);
  fill(a.data(), a.size());
  const char* where = a.data();
  byte_buffer b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), where);
  EXPECT_TRUE(holds(b.data(), b.size()));
  byte_buffer c(10);
  c = std::move(b);
  EXPECT_EQ(c.data(), where);
  c.reset();
  EXPECT_FALSE(c);
  EXPECT_EQ(c.size(), 0u);
  c.grow(10, 0); // usable again
  EXPECT_GE(c.size(), 10u);
}

TEST(byte_buffer, a_size_no_memory_can_hold_throws_bad_alloc_and_leaves_the_buffer) {
  byte_buffer b(byte_buffer::mapped_from);
  fill(b.data(), b.size());
  std::size_t size = b.size();
  EXPECT_THROW(b.grow(SIZE_MAX - 10, size), std::bad_alloc);
  EXPECT_THROW(b.grow(std::size_t{1} << 62, size), std::bad_alloc);
  EXPECT_EQ(b.size(), size);
  EXPECT_TRUE(holds(b.data(), size));
}

} // namespace
} // namespace socketengine::detail
