// The image type, and PNG encoding and decoding, bad input included.

#include "image/png.hpp"
#include "protocol/legacy/line_codec.hpp"

#include <gtest/gtest.h>
#include <spng.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <socketengine/error.hpp>
#include <socketengine/image.hpp>

#include "support/test_images.hpp"

// Records the largest allocation made through operator new, so the tests
// can tell that a hostile PNG header did not make the decoder allocate
// what it claims.
namespace {
std::atomic<std::size_t> largest_allocation{0};
}

void* operator new(std::size_t n) {
  std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (n > seen && !largest_allocation.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The replacement operator new above takes its memory from malloc, so free
// is the matching release; GCC cannot see that once it inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace socketengine::detail {
namespace {

using test::base64_of;
using test::pattern_image;
using test::png_claiming;

std::string encode_png(const image& img, int level = 1) {
  std::string out;
  png::encode(img, level, out);
  return out;
}

std::optional<image> decode_png(const std::string& bytes, std::error_code& ec,
                                std::uint64_t max_pixels = std::uint64_t{1} << 25) {
  std::string detail;
  auto img = png::decode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()},
                         max_pixels, ec, detail);
  if (ec) {
    EXPECT_FALSE(detail.empty());
  }
  return img;
}

// --- image --------------------------------------------------------------------

TEST(image, sizes_and_channels) {
  image img(641, 479, pixel_order::bgra);
  EXPECT_EQ(img.width(), 641u);
  EXPECT_EQ(img.height(), 479u);
  EXPECT_EQ(img.channels(), 4);
  EXPECT_EQ(img.row_bytes(), 641u * 4);
  EXPECT_EQ(img.size_bytes(), 641u * 479 * 4);
  EXPECT_FALSE(img.empty());
  EXPECT_EQ(img.pixels()[12345], 0); // new images are zeroed
  EXPECT_EQ(channels_of(pixel_order::gray), 1);
  EXPECT_EQ(channels_of(pixel_order::rgb), 3);
  EXPECT_TRUE(image().empty());
}

TEST(image, copies_share_pixels_and_clone_does_not) {
  image a(3, 2, pixel_order::gray);
  image b = a;
  image c = a.clone();
  a.data()[0] = 9;
  EXPECT_EQ(b.data(), a.data());
  EXPECT_EQ(b.data()[0], 9);
  EXPECT_NE(c.data(), a.data());
  EXPECT_EQ(c.data()[0], 0);
  EXPECT_NE(a, c);
  c.data()[0] = 9;
  EXPECT_EQ(a, c);
}

TEST(image, wrap_keeps_the_owner_alive) {
  auto storage = std::make_shared<std::vector<std::uint8_t>>(6, std::uint8_t{5});
  std::weak_ptr<std::vector<std::uint8_t>> watch = storage;
  image img = image::wrap(2, 1, pixel_order::rgb, storage->data(), storage);
  storage.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(img.data()[5], 5);
  img = image();
  EXPECT_TRUE(watch.expired());
}

TEST(image, bad_arguments_throw) {
  std::vector<std::uint8_t> pixels(11);
  EXPECT_THROW(image(2, 2, pixel_order::bgr, pixels), std::invalid_argument);
  EXPECT_THROW(image(0, 2, pixel_order::bgr), std::invalid_argument);
  EXPECT_THROW(image::wrap(1, 1, pixel_order::gray, nullptr, nullptr), std::invalid_argument);
  // 2147549185 x 2147418113 x 4 is 2^64 + 4: a size that wraps to 4 bytes
  // if multiplied out unchecked.
  EXPECT_THROW(image(2147549185u, 2147418113u, pixel_order::bgra), std::invalid_argument);
}

// --- PNG ----------------------------------------------------------------------

using shape = test::image_shape;

class png_round_trip : public ::testing::TestWithParam<shape> {};

TEST_P(png_round_trip, gives_back_identical_bytes) {
  auto [w, h, order] = GetParam();
  auto img = pattern_image(w, h, order, 3);
  std::error_code ec;
  auto back = decode_png(encode_png(img), ec);
  ASSERT_TRUE(back) << ec.message();
  EXPECT_EQ(*back, img);
}

INSTANTIATE_TEST_SUITE_P(
    sizes_and_orders, png_round_trip,
    ::testing::Values(shape{1, 1, pixel_order::gray}, shape{1, 1, pixel_order::bgr},
                      shape{1, 1, pixel_order::bgra}, shape{641, 479, pixel_order::gray},
                      shape{641, 479, pixel_order::bgr}, shape{641, 479, pixel_order::bgra},
                      shape{3, 1000, pixel_order::bgr}, shape{1000, 3, pixel_order::bgra}),
    [](const auto& info) { return test::shape_name(info.param); });

TEST(png, bgr_is_written_as_an_rgb_png) {
  image img(1, 1, pixel_order::bgr);
  img.data()[0] = 10; // blue
  img.data()[1] = 20; // green
  img.data()[2] = 30; // red
  auto bytes = encode_png(img, 0);
  ASSERT_GT(bytes.size(), 33u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  EXPECT_EQ(bytes[24], 8); // bit depth
  EXPECT_EQ(bytes[25], 2); // colour type: RGB
  // At level 0 the pixel sits uncompressed in the IDAT: filter byte, R, G, B.
  EXPECT_NE(bytes.find(std::string("\x1e\x14\x0a", 3)), std::string::npos);
  EXPECT_EQ(encode_png(pattern_image(1, 1, pixel_order::gray))[25], 0);
  EXPECT_EQ(encode_png(pattern_image(1, 1, pixel_order::bgra))[25], 6);
}

TEST(png, rgb_and_rgba_arrive_in_opencv_order) {
  auto rgb = pattern_image(5, 4, pixel_order::rgb);
  std::error_code ec;
  auto back = decode_png(encode_png(rgb), ec);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->order(), pixel_order::bgr);
  for (std::size_t i = 0; i < rgb.size_bytes(); i += 3) {
    EXPECT_EQ(back->data()[i], rgb.data()[i + 2]);
    EXPECT_EQ(back->data()[i + 1], rgb.data()[i + 1]);
    EXPECT_EQ(back->data()[i + 2], rgb.data()[i]);
  }
  back = decode_png(encode_png(pattern_image(5, 4, pixel_order::rgba)), ec);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->order(), pixel_order::bgra);
}

TEST(png, every_compression_level_decodes_the_same) {
  auto img = pattern_image(64, 48, pixel_order::bgr, 1);
  std::size_t stored = 0;
  for (int level = -1; level <= 10; ++level) { // out of range is clamped
    auto bytes = encode_png(img, level);
    if (level == 0) stored = bytes.size();
    std::error_code ec;
    auto back = decode_png(bytes, ec);
    ASSERT_TRUE(back) << level;
    EXPECT_EQ(*back, img) << level;
  }
  EXPECT_GT(stored, img.size_bytes()); // level 0 stores
}

TEST(png, transparency_from_a_trns_chunk_becomes_alpha) {
  // A 2x1 palette PNG, red then green, red fully transparent: what OpenCV
  // decodes (IMREAD_UNCHANGED) to BGRA [0,0,255,0] [0,255,0,255].
  spng_ctx* enc = spng_ctx_new(SPNG_CTX_ENCODER);
  ASSERT_NE(enc, nullptr);
  spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = 2;
  ihdr.height = 1;
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_INDEXED;
  spng_plte plte{};
  plte.n_entries = 2;
  plte.entries[0] = {255, 0, 0, 0};
  plte.entries[1] = {0, 255, 0, 0};
  spng_trns trns{};
  trns.n_type3_entries = 2;
  trns.type3_alpha[0] = 0;
  trns.type3_alpha[1] = 255;
  const std::uint8_t indices[2] = {0, 1};
  ASSERT_EQ(spng_set_ihdr(enc, &ihdr), 0);
  ASSERT_EQ(spng_set_plte(enc, &plte), 0);
  ASSERT_EQ(spng_set_trns(enc, &trns), 0);
  ASSERT_EQ(spng_encode_image(enc, indices, sizeof indices, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
  std::size_t len = 0;
  int err = 0;
  void* buf = spng_get_png_buffer(enc, &len, &err);
  ASSERT_NE(buf, nullptr);
  std::string bytes(static_cast<const char*>(buf), len);
  std::free(buf);
  spng_ctx_free(enc);

  std::error_code ec;
  auto img = decode_png(bytes, ec);
  ASSERT_TRUE(img) << ec.message();
  ASSERT_EQ(img->order(), pixel_order::bgra);
  const std::uint8_t expected[8] = {0, 0, 255, 0, 0, 255, 0, 255};
  EXPECT_TRUE(std::equal(expected, expected + 8, img->data()));
}

TEST(png, empty_image_is_refused) {
  std::string out;
  EXPECT_THROW(png::encode(image(), 1, out), std::invalid_argument);
}

TEST(png, a_huge_header_is_refused_before_allocating) {
  auto bytes = png_claiming(100'000, 100'000);
  largest_allocation = 0;
  std::error_code ec;
  EXPECT_FALSE(decode_png(bytes, ec));
  EXPECT_EQ(ec, errc::image_too_large);
  EXPECT_LT(largest_allocation.load(), std::size_t{1} << 20);
}

TEST(png, the_pixel_limit_is_inclusive) {
  auto img = pattern_image(10, 10, pixel_order::gray);
  std::error_code ec;
  EXPECT_TRUE(decode_png(encode_png(img), ec, 100));
  EXPECT_FALSE(decode_png(encode_png(img), ec, 99));
  EXPECT_EQ(ec, errc::image_too_large);
}

TEST(png, truncated_corrupt_and_foreign_data_are_refused) {
  auto bytes = encode_png(pattern_image(64, 64, pixel_order::bgr));
  std::error_code ec;
  for (std::size_t cut : {std::size_t{0}, std::size_t{4}, std::size_t{20}, std::size_t{40},
                          bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(decode_png(bytes.substr(0, cut), ec)) << cut;
    EXPECT_EQ(ec, errc::invalid_image) << cut;
  }
  auto corrupt = bytes;
  corrupt[bytes.size() / 2] = static_cast<char>(corrupt[bytes.size() / 2] ^ 0x55);
  EXPECT_FALSE(decode_png(corrupt, ec));
  EXPECT_EQ(ec, errc::invalid_image);
  EXPECT_FALSE(decode_png("GIF89a and then some bytes that are not a PNG", ec));
  EXPECT_EQ(ec, errc::invalid_image);
}

// An image line's payload decodes through the same PNG decoder, with the
// same bound on what a hostile header makes it allocate.
TEST(image_line, bad_payloads_are_reported) {
  std::error_code ec;
  std::string detail;
  EXPECT_FALSE(legacy::decode_image_data("not base64!", 1000, ec, detail));
  EXPECT_EQ(ec, errc::invalid_base64);
  EXPECT_FALSE(legacy::decode_image_data(base64_of("hello, world"), 1000, ec, detail));
  EXPECT_EQ(ec, errc::invalid_image);
  auto png = encode_png(pattern_image(20, 20, pixel_order::bgr));
  EXPECT_FALSE(legacy::decode_image_data(base64_of(png.substr(0, png.size() / 2)), 1000, ec, detail));
  EXPECT_EQ(ec, errc::invalid_image);
  largest_allocation = 0;
  EXPECT_FALSE(legacy::decode_image_data(base64_of(png_claiming(100'000, 100'000)),
                                 std::uint64_t{1} << 25, ec, detail));
  EXPECT_EQ(ec, errc::image_too_large);
  EXPECT_NE(detail.find("100000 x 100000"), std::string::npos) << detail;
  EXPECT_LT(largest_allocation.load(), std::size_t{1} << 20);
}

} // namespace
} // namespace socketengine::detail
