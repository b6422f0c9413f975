// The frame reader's buffers: what it holds while frames come and when idle,
// a large frame read into a buffer of exactly its size, bytes handed over at
// the switch, and stop(). (Decoding every kind of frame through it, cut at
// every offset, is in frame_codec_test.)

#include "protocol/native/frame_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <socketengine/error.hpp>

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
  EXPECT_EQ(r.coming(), 0u); // a small frame's rest is read with whatever follows
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
  // What the connection waits for before reading again (wake_after).
  EXPECT_EQ(r.coming(), big.size() - 1000);
  feed(r, std::string_view(big).substr(1000, 5000));
  EXPECT_EQ(r.coming(), big.size() - 6000);
  feed(r, std::string_view(big).substr(6000));
  EXPECT_EQ(r.coming(), 0u);
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

// A raw frame whose pixels are numbered, so any byte out of place shows.
image numbered_image(std::uint32_t width, std::uint32_t height) {
  image img(width, height, pixel_order::bgr);
  for (std::size_t i = 0; i < img.size_bytes(); ++i)
    img.data()[i] = static_cast<std::uint8_t>(i * 31 + i / 251);
  return img;
}

// Decodes the image frames consume() hands out into `got`.
bool take_image(frame_reader& r, std::optional<image>& got, std::uint64_t max_pixels,
                std::error_code& ec) {
  return r.consume([&](std::span<const std::uint8_t> body, std::shared_ptr<const void> owner) {
    std::string detail;
    auto f = parse_frame(body, std::move(owner), detail);
    ASSERT_TRUE(f) << detail;
    got = decode_image(*f, max_pixels, ec, detail);
  });
}

// Reads `bytes` as the connection does, consuming after each read (a frame
// larger than the buffer gets its own only then); images go to `got`.
void feed_consuming(frame_reader& r, std::string_view bytes, std::optional<image>& got,
                    std::uint64_t max_pixels, std::error_code& ec) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
    ASSERT_TRUE(take_image(r, got, max_pixels, ec));
  }
}

TEST(frame_reader, a_raw_image_split_across_many_reads_is_read_straight_into_its_pixels) {
  auto sent = numbered_image(64, 48); // 9,216 bytes of pixels: more than the buffer
  auto frame = *encode_image(sent, image_encoding::raw, 1, 90);
  frame_reader r(1 << 20, buffer_size);
  std::optional<image> got;
  std::error_code ec;
  const char* buffer = nullptr; // the frame's own, once its size is known
  std::size_t reads = 0;
  for (std::string_view rest = frame; !rest.empty(); ++reads) {
    // The socket's reads, 97 bytes at a time, each consumed as it comes.
    auto space = r.prepare();
    if (buffer) {
      // Every read after the header goes into the frame's own buffer, at
      // the place its bytes keep: the pixels are never moved.
      EXPECT_EQ(space.data(), buffer + r.pending());
    }
    std::size_t n = std::min({space.size(), rest.size(), std::size_t{97}});
    std::memcpy(space.data(), rest.data(), n);
    r.commit(n);
    rest.remove_prefix(n);
    ASSERT_TRUE(take_image(r, got, std::uint64_t{1} << 24, ec));
    if (!buffer && !got && r.held() == frame.size()) buffer = r.prepare().data() - r.pending();
  }
  EXPECT_GT(reads, 90u);
  ASSERT_TRUE(got) << ec.message();
  EXPECT_EQ(*got, sent);
  ASSERT_NE(buffer, nullptr);
  // The image's pixels are the frame's buffer, past its headers: not a copy.
  EXPECT_EQ(reinterpret_cast<const char*>(got->data()), buffer + header_size + image_header_size);
  r.release();
  EXPECT_EQ(*got, sent); // the image keeps the buffer alive
}

TEST(frame_reader, a_truncated_raw_image_delivers_nothing_and_gives_its_buffer_back) {
  memory_budget budget(1 << 20);
  auto frame = *encode_image(numbered_image(64, 48), image_encoding::raw, 1, 90);
  {
    frame_reader r(1 << 20, buffer_size, &budget);
    std::optional<image> got;
    std::error_code ec;
    feed_consuming(r, std::string_view(frame).substr(0, frame.size() - 1), got,
                   std::uint64_t{1} << 24, ec);
    EXPECT_FALSE(got); // one byte short: no image
    EXPECT_EQ(r.pending(), frame.size() - 1);
    EXPECT_EQ(budget.used(), frame.size()); // charged for the whole frame
  } // the connection ends mid-frame
  EXPECT_EQ(budget.used(), 0u);
}

TEST(frame_reader, a_raw_image_claiming_a_huge_size_is_charged_before_it_is_allocated) {
  memory_budget budget(std::size_t{64} << 20);
  // Headers that claim a 4000 x 4000 BGR image (48 MB, within the frame
  // limit), and a few bytes of it.
  auto head = raw_image_head(image(4000, 4000, pixel_order::bgr));
  head.append(50, '\x01');
  frame_reader first(std::size_t{1} << 30, buffer_size, &budget);
  frame_reader second(std::size_t{1} << 30, buffer_size, &budget);
  feed(first, head);
  feed(second, head);
  EXPECT_TRUE(sizes_of(first).empty()); // fits: 48 of 64 MB, allocated
  EXPECT_EQ(first.held(), 48'000'000u + head.size() - 50);
  auto before = budget.used();
  EXPECT_THROW(sizes_of(second), over_budget); // would pass it: refused
  EXPECT_EQ(budget.used(), before);
  EXPECT_EQ(second.held(), buffer_size); // its small buffer only: nothing for the frame
}

TEST(frame_reader, a_raw_image_over_max_pixels_is_refused_once_read) {
  auto frame = *encode_image(numbered_image(64, 48), image_encoding::raw, 1, 90);
  frame_reader r(1 << 20, buffer_size);
  std::optional<image> got;
  std::error_code ec;
  feed_consuming(r, frame, got, 64 * 48 - 1, ec);
  EXPECT_FALSE(got);
  EXPECT_EQ(ec, errc::image_too_large);
}

} // namespace
} // namespace socketengine::detail::native
