// JPEG encoding and decoding: fidelity against bounds rather than bytes,
// the file's structure, bad input, and decoding that does not depend on
// what was decoded before or on which thread.

#include "image/jpeg.hpp"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <socketengine/error.hpp>
#include <socketengine/image.hpp>

#include "support/test_images.hpp"

// Records the largest allocation made through operator new, so the tests
// can tell that a hostile JPEG header did not make the decoder allocate
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

using shape = test::image_shape;

// The top left of a camera-like 640x480 scene, at any size: smooth
// shading and colour gradients, a soft-edged disc and a little
// deterministic sensor noise. test::pattern_image is a worst case for JPEG
// (its samples jump by 80 between channels and wrap around every few
// pixels), so fidelity bounds would say little about it.
image photo_image(std::uint32_t width, std::uint32_t height, pixel_order order, unsigned seed = 0) {
  image img(width, height, order);
  std::uint8_t* p = img.data();
  const double cx = 380;
  const double cy = 200;
  const double radius = 130;
  std::uint32_t noise = 2463534242u + seed;
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      const double dx = x - cx;
      const double dy = y - cy;
      // 1 inside the disc, 0 outside, with an edge a few pixels wide.
      const double disc = 1 / (1 + std::exp((std::sqrt(dx * dx + dy * dy) - radius) / 3));
      const double shade = 40 * std::sin(x * 0.013 + seed) * std::cos(y * 0.017);
      double rgb[3] = {90 + x / 8.0 + shade + 70 * disc, 70 + y / 8.0 + shade + 20 * disc,
                       140 - x / 12.0 + 0.5 * shade - 60 * disc};
      for (double& v : rgb) {
        noise ^= noise << 13; // xorshift32
        noise ^= noise >> 17;
        noise ^= noise << 5;
        v = std::clamp(v + static_cast<int>(noise % 5) - 2, 0.0, 255.0);
      }
      const auto r = static_cast<std::uint8_t>(rgb[0]);
      const auto g = static_cast<std::uint8_t>(rgb[1]);
      const auto b = static_cast<std::uint8_t>(rgb[2]);
      const bool blue_first = order == pixel_order::bgr || order == pixel_order::bgra;
      if (order == pixel_order::gray) {
        *p++ = static_cast<std::uint8_t>((77 * r + 150 * g + 29 * b) >> 8);
        continue;
      }
      *p++ = blue_first ? b : r;
      *p++ = g;
      *p++ = blue_first ? r : b;
      if (channels_of(order) == 4) *p++ = static_cast<std::uint8_t>(x ^ y); // varying alpha
    }
  }
  return img;
}

// Sample `c` (0 blue, 1 green, 2 red) of pixel `i`, whatever the order.
int sample(const image& img, std::size_t i, int c) {
  const std::uint8_t* p = img.data() + i * static_cast<std::size_t>(img.channels());
  switch (img.order()) {
  case pixel_order::gray: return p[0];
  case pixel_order::bgr:
  case pixel_order::bgra: return p[c];
  case pixel_order::rgb:
  case pixel_order::rgba: return p[2 - c];
  }
  return -1;
}

// The mean absolute difference over every pixel's blue, green and red.
double mean_abs_error(const image& a, const image& b) {
  EXPECT_EQ(a.width(), b.width());
  EXPECT_EQ(a.height(), b.height());
  std::size_t pixels = std::size_t{a.width()} * a.height();
  double sum = 0;
  for (std::size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < 3; ++c) sum += std::abs(sample(a, i, c) - sample(b, i, c));
  return sum / static_cast<double>(pixels * 3);
}

std::string encode_jpeg(const image& img, int quality = 90) {
  std::string out;
  jpeg::encode(img, quality, out);
  return out;
}

std::optional<image> decode_jpeg(const std::string& bytes, std::error_code& ec,
                                 std::uint64_t max_pixels = std::uint64_t{1} << 25,
                                 std::string* why = nullptr) {
  std::string detail;
  auto img = jpeg::decode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()},
                          max_pixels, ec, detail);
  if (ec) {
    EXPECT_FALSE(detail.empty());
  }
  if (why) *why = detail;
  return img;
}

// The bytes of the segment whose marker starts at `at`, marker included.
std::size_t segment_length(const std::string& jpeg, std::size_t at) {
  auto byte = [&](std::size_t i) { return std::size_t{static_cast<std::uint8_t>(jpeg[i])}; };
  return 2 + (byte(at + 2) << 8 | byte(at + 3));
}

// Where the marker `code` (the byte after 0xFF) starts among the segments
// before the scan data, or npos.
std::size_t find_marker(const std::string& jpeg, std::uint8_t code) {
  std::size_t at = 2; // after SOI
  while (at + 4 <= jpeg.size() && static_cast<std::uint8_t>(jpeg[at]) == 0xFF) {
    auto marker = static_cast<std::uint8_t>(jpeg[at + 1]);
    if (marker == code) return at;
    if (marker == 0xDA) break; // start of scan: entropy-coded data follows
    at += segment_length(jpeg, at);
  }
  return std::string::npos;
}

// `jpeg` without its segments with marker `code` (before the scan data).
std::string without_segments(const std::string& jpeg, std::uint8_t code) {
  std::string out = jpeg;
  for (std::size_t at; (at = find_marker(out, code)) != std::string::npos;)
    out.erase(at, segment_length(out, at));
  return out;
}

// `jpeg` with its frame header claiming `width` x `height`.
std::string jpeg_claiming(std::string jpeg, std::uint16_t width, std::uint16_t height) {
  std::size_t sof = find_marker(jpeg, 0xC0);
  EXPECT_NE(sof, std::string::npos);
  jpeg[sof + 5] = static_cast<char>(height >> 8);
  jpeg[sof + 6] = static_cast<char>(height & 0xFF);
  jpeg[sof + 7] = static_cast<char>(width >> 8);
  jpeg[sof + 8] = static_cast<char>(width & 0xFF);
  return jpeg;
}

// Compresses with TurboJPEG directly, for the kinds of JPEG the engine's
// encoder does not write (progressive, CMYK).
std::string turbojpeg_of(const std::uint8_t* pixels, int width, int height, int pixel_format,
                         int subsamp, int flags) {
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(h, pixels, width, 0, height, pixel_format, &buf, &size, subsamp, 90, flags);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(h);
  std::string out(reinterpret_cast<const char*>(buf), rc == 0 ? size : 0);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

// --- round trips ----------------------------------------------------------------

class jpeg_round_trip : public ::testing::TestWithParam<shape> {};

TEST_P(jpeg_round_trip, stays_close_at_quality_90) {
  auto [w, h, order] = GetParam();
  auto img = photo_image(w, h, order, 1);
  std::error_code ec;
  auto back = decode_jpeg(encode_jpeg(img, 90), ec);
  ASSERT_TRUE(back) << ec.message();
  EXPECT_EQ(back->width(), w);
  EXPECT_EQ(back->height(), h);
  EXPECT_EQ(back->order(), order == pixel_order::gray ? pixel_order::gray : pixel_order::bgr);
  // 1.3 for this scene in colour, 0.8 in gray; much of it is the noise.
  EXPECT_LT(mean_abs_error(img, *back), 2.0);
}

INSTANTIATE_TEST_SUITE_P(
    sizes_and_orders, jpeg_round_trip,
    ::testing::Values(shape{640, 480, pixel_order::gray}, shape{640, 480, pixel_order::bgr},
                      shape{640, 480, pixel_order::rgb}, shape{640, 480, pixel_order::bgra},
                      shape{640, 480, pixel_order::rgba}, shape{1, 1, pixel_order::gray},
                      shape{1, 1, pixel_order::bgr}, shape{1, 1, pixel_order::rgba},
                      shape{641, 479, pixel_order::gray}, shape{641, 479, pixel_order::bgr},
                      shape{641, 479, pixel_order::bgra}, shape{3, 1000, pixel_order::rgb},
                      shape{1000, 3, pixel_order::bgr}),
    [](const auto& info) { return test::shape_name(info.param); });

TEST(jpeg, quality_10_is_smaller_and_coarser) {
  auto img = photo_image(640, 480, pixel_order::bgr);
  auto fine = encode_jpeg(img, 90);
  auto coarse = encode_jpeg(img, 10);
  EXPECT_LT(coarse.size() * 3, fine.size()); // 5.9 KB against 23.6 KB
  std::error_code ec;
  auto fine_back = decode_jpeg(fine, ec);
  auto coarse_back = decode_jpeg(coarse, ec);
  ASSERT_TRUE(fine_back && coarse_back);
  double fine_error = mean_abs_error(img, *fine_back);
  double coarse_error = mean_abs_error(img, *coarse_back);
  EXPECT_GT(coarse_error, 2 * fine_error);
  EXPECT_LT(coarse_error, 8.0); // 4.6, against 1.3 at quality 90
}

TEST(jpeg, output_is_a_jpeg_file) {
  auto colour = encode_jpeg(photo_image(64, 48, pixel_order::bgr));
  ASSERT_GT(colour.size(), 4u);
  EXPECT_EQ(colour.substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(colour.substr(colour.size() - 2), "\xFF\xD9");
  // Baseline frame header: 3 components, luma sampled 2x2 and chroma 1x1,
  // that is 4:2:0.
  std::size_t sof = find_marker(colour, 0xC0);
  ASSERT_NE(sof, std::string::npos);
  EXPECT_EQ(colour[sof + 9], 3);
  EXPECT_EQ(static_cast<std::uint8_t>(colour[sof + 11]), 0x22);
  EXPECT_EQ(static_cast<std::uint8_t>(colour[sof + 14]), 0x11);
  EXPECT_EQ(static_cast<std::uint8_t>(colour[sof + 17]), 0x11);

  auto gray = encode_jpeg(photo_image(64, 48, pixel_order::gray));
  EXPECT_EQ(gray.substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(gray.substr(gray.size() - 2), "\xFF\xD9");
  sof = find_marker(gray, 0xC0);
  ASSERT_NE(sof, std::string::npos);
  EXPECT_EQ(gray[sof + 9], 1);
}

TEST(jpeg, appends_to_what_out_holds) {
  auto img = photo_image(32, 32, pixel_order::bgr);
  std::string out = "prefix";
  jpeg::encode(img, 90, out);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.substr(6), encode_jpeg(img, 90));
}

TEST(jpeg, bgr_and_rgb_of_one_scene_decode_alike) {
  auto bgr = photo_image(161, 97, pixel_order::bgr, 2);
  auto rgb = photo_image(161, 97, pixel_order::rgb, 2);
  std::error_code ec;
  auto from_bgr = decode_jpeg(encode_jpeg(bgr), ec);
  auto from_rgb = decode_jpeg(encode_jpeg(rgb), ec);
  ASSERT_TRUE(from_bgr && from_rgb);
  ASSERT_EQ(from_rgb->order(), pixel_order::bgr);
  int worst = 0;
  for (std::size_t i = 0; i < from_bgr->size_bytes(); ++i)
    worst = std::max(worst, std::abs(from_bgr->data()[i] - from_rgb->data()[i]));
  EXPECT_LE(worst, 1);
}

TEST(jpeg, alpha_is_dropped) {
  auto img = photo_image(50, 40, pixel_order::bgra, 3);
  auto opaque = img.clone();
  for (std::size_t i = 3; i < opaque.size_bytes(); i += 4) opaque.data()[i] = 255;
  EXPECT_EQ(encode_jpeg(img), encode_jpeg(opaque));
}

TEST(jpeg, quality_is_clamped) {
  auto img = photo_image(40, 30, pixel_order::bgr);
  EXPECT_EQ(encode_jpeg(img, 0), encode_jpeg(img, 1));
  EXPECT_EQ(encode_jpeg(img, -7), encode_jpeg(img, 1));
  EXPECT_EQ(encode_jpeg(img, 200), encode_jpeg(img, 100));
  EXPECT_NE(encode_jpeg(img, 1), encode_jpeg(img, 100));
  std::error_code ec;
  EXPECT_TRUE(decode_jpeg(encode_jpeg(img, 0), ec));
  EXPECT_TRUE(decode_jpeg(encode_jpeg(img, 200), ec));
}

TEST(jpeg, unencodable_images_are_refused) {
  std::string out = "kept";
  EXPECT_THROW(jpeg::encode(image(), 90, out), std::invalid_argument);
  EXPECT_THROW(jpeg::encode(image(65501, 1, pixel_order::gray), 90, out), std::invalid_argument);
  EXPECT_EQ(out, "kept");
}

// --- bad input ------------------------------------------------------------------

TEST(jpeg, truncated_corrupt_and_foreign_data_are_refused) {
  auto bytes = encode_jpeg(photo_image(64, 64, pixel_order::bgr));
  std::size_t sos = find_marker(bytes, 0xDA);
  ASSERT_NE(sos, std::string::npos);
  std::error_code ec;
  // A JPEG cut short in its scan data is only a warning to libjpeg-turbo.
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{20}, sos,
                          sos + 20, bytes.size() / 2, bytes.size() - 2, bytes.size() - 1}) {
    EXPECT_FALSE(decode_jpeg(bytes.substr(0, cut), ec)) << cut;
    EXPECT_EQ(ec, errc::invalid_image) << cut;
  }
  // JPEG has no checksums; this damage is one the decoder notices.
  auto corrupt = bytes;
  for (std::size_t i = sos + 100; i < sos + 140; ++i)
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5A);
  EXPECT_FALSE(decode_jpeg(corrupt, ec));
  EXPECT_EQ(ec, errc::invalid_image);
  // Stray bytes between markers: a warning, in the header.
  auto stray = bytes;
  stray.insert(sos, "\x12\x34");
  EXPECT_FALSE(decode_jpeg(stray, ec));
  EXPECT_EQ(ec, errc::invalid_image);
  // Tables without an image, or nothing after the start marker: a success
  // to libjpeg-turbo, with no size.
  auto tables = without_segments(bytes, 0xC0);
  tables = tables.substr(0, find_marker(tables, 0xDA)) + "\xFF\xD9";
  EXPECT_FALSE(decode_jpeg(tables, ec));
  EXPECT_EQ(ec, errc::invalid_image);
  EXPECT_FALSE(decode_jpeg("\xFF\xD8", ec));
  EXPECT_EQ(ec, errc::invalid_image);
  EXPECT_FALSE(decode_jpeg("GIF89a and then some bytes that are not a JPEG", ec));
  EXPECT_EQ(ec, errc::invalid_image);
  EXPECT_FALSE(decode_jpeg(test::png_of(photo_image(8, 8, pixel_order::bgr)), ec));
  EXPECT_EQ(ec, errc::invalid_image);
}

TEST(jpeg, cmyk_is_refused) {
  std::vector<std::uint8_t> cmyk(16 * 16 * 4, 77);
  auto bytes = turbojpeg_of(cmyk.data(), 16, 16, TJPF_CMYK, TJSAMP_444, 0);
  std::error_code ec;
  std::string why;
  EXPECT_FALSE(decode_jpeg(bytes, ec, 1000, &why));
  EXPECT_EQ(ec, errc::invalid_image);
  EXPECT_NE(why.find("CMYK"), std::string::npos) << why;
}

TEST(jpeg, a_huge_header_is_refused_before_allocating) {
  auto bytes = jpeg_claiming(encode_jpeg(photo_image(16, 16, pixel_order::bgr)), 60000, 60000);
  largest_allocation = 0;
  std::error_code ec;
  std::string why;
  EXPECT_FALSE(decode_jpeg(bytes, ec, std::uint64_t{1} << 25, &why));
  EXPECT_EQ(ec, errc::image_too_large);
  EXPECT_NE(why.find("60000 x 60000"), std::string::npos) << why;
  EXPECT_LT(largest_allocation.load(), std::size_t{1} << 20);
  // Past libjpeg's limit of 65500 a side, the header itself is invalid.
  EXPECT_FALSE(decode_jpeg(jpeg_claiming(bytes, 65535, 2), ec, ~std::uint64_t{0}));
  EXPECT_EQ(ec, errc::invalid_image);
}

TEST(jpeg, the_pixel_limit_is_inclusive) {
  for (auto order : {pixel_order::gray, pixel_order::bgr}) { // pixels, not samples
    auto bytes = encode_jpeg(photo_image(10, 10, order));
    std::error_code ec;
    EXPECT_TRUE(decode_jpeg(bytes, ec, 100)) << to_string(order);
    EXPECT_FALSE(decode_jpeg(bytes, ec, 99)) << to_string(order);
    EXPECT_EQ(ec, errc::image_too_large);
  }
}

// --- independence -----------------------------------------------------------------

// A reused libjpeg-turbo 2.1 decompressor cannot read a valid JPEG after
// some header failures; the decoder must not keep one between images.
TEST(jpeg, a_bad_jpeg_does_not_spoil_the_next) {
  auto img = photo_image(48, 32, pixel_order::bgr);
  auto good = encode_jpeg(img);
  std::error_code ec;
  auto reference = decode_jpeg(good, ec);
  ASSERT_TRUE(reference);
  std::size_t sos = find_marker(good, 0xDA);
  auto bad_scan_header = good;
  bad_scan_header.insert(sos, "\x12\x34");
  bad_scan_header[sos + 2 + 7] = 0x77; // a component id that is not in the frame
  for (const auto& bad : {good.substr(0, sos), bad_scan_header, jpeg_claiming(good, 48, 0)}) {
    EXPECT_FALSE(decode_jpeg(bad, ec));
    auto back = decode_jpeg(good, ec);
    ASSERT_TRUE(back) << ec.message();
    EXPECT_EQ(*back, *reference);
  }
}

// A reused decompressor also keeps the last image's Huffman and
// quantization tables, for the next image to use in place of its own.
TEST(jpeg, decoding_does_not_depend_on_earlier_images) {
  auto img = photo_image(64, 48, pixel_order::bgr, 4);
  auto baseline = encode_jpeg(img);
  std::error_code ec;
  auto reference = decode_jpeg(baseline, ec);
  ASSERT_TRUE(reference);
  // A Motion JPEG frame leaves out the Huffman tables when they are the
  // standard ones, which the engine's encoder uses.
  auto mjpeg = without_segments(baseline, 0xC4);
  ASSERT_LT(mjpeg.size(), baseline.size());
  // A progressive JPEG's tables are made for it, not the standard ones.
  auto progressive = turbojpeg_of(img.data(), 64, 48, TJPF_BGR, TJSAMP_420, TJFLAG_PROGRESSIVE);
  ASSERT_TRUE(decode_jpeg(progressive, ec)) << ec.message();
  auto back = decode_jpeg(mjpeg, ec);
  ASSERT_TRUE(back) << ec.message();
  EXPECT_EQ(*back, *reference);
  // Without its quantization tables a JPEG cannot be decoded, whatever
  // came before.
  EXPECT_FALSE(decode_jpeg(without_segments(baseline, 0xDB), ec));
  EXPECT_EQ(ec, errc::invalid_image);
}

TEST(jpeg, encodes_and_decodes_on_many_threads_at_once) {
  // Different sizes and orders, so each thread's compressor goes from one
  // kind of image to another; every result must match the one made here.
  std::vector<image> images = {
      photo_image(160, 120, pixel_order::bgr, 1), photo_image(97, 61, pixel_order::gray, 2),
      photo_image(128, 96, pixel_order::rgba, 3), photo_image(33, 200, pixel_order::rgb, 4)};
  std::vector<std::string> encoded;
  std::vector<image> decoded;
  for (const auto& img : images) {
    encoded.push_back(encode_jpeg(img, 80));
    std::error_code ec;
    auto back = decode_jpeg(encoded.back(), ec);
    ASSERT_TRUE(back);
    decoded.push_back(*back);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t round = 0; round < 25; ++round) {
        std::size_t i = (t + round) % images.size();
        std::string out;
        jpeg::encode(images[i], 80, out);
        std::error_code ec;
        std::string detail;
        auto back = jpeg::decode({reinterpret_cast<const std::uint8_t*>(out.data()), out.size()},
                                 std::uint64_t{1} << 25, ec, detail);
        if (out != encoded[i] || !back || *back != decoded[i]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

} // namespace
} // namespace socketengine::detail
