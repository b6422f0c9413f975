// socketengine/image_codec.hpp: PNG and JPEG bytes and files to and from
// images, through the engine's own codecs.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <socketengine/error.hpp>
#include <socketengine/image_codec.hpp>

#include "support/temp_dir.hpp"
#include "support/test_images.hpp"

namespace socketengine {
namespace {

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(public_image_codec, a_png_round_trip_gives_the_same_pixels) {
  for (auto order : {pixel_order::gray, pixel_order::bgr, pixel_order::bgra}) {
    auto img = test::pattern_image(37, 21, order);
    auto back = decode_image(bytes_of(encode_png(img)));
    EXPECT_EQ(back, img) << to_string(order);
  }
}

TEST(public_image_codec, a_jpeg_round_trip_gives_an_image_of_the_same_size_close_to_it) {
  image flat(64, 48, pixel_order::bgr);
  for (std::size_t i = 0; i < flat.size_bytes(); i += 3) {
    flat.data()[i] = 10;      // blue
    flat.data()[i + 1] = 120; // green
    flat.data()[i + 2] = 200; // red
  }
  auto back = decode_image(bytes_of(encode_jpeg(flat, 95)));
  ASSERT_EQ(back.width(), 64u);
  ASSERT_EQ(back.height(), 48u);
  ASSERT_EQ(back.order(), pixel_order::bgr);
  for (std::size_t i = 0; i < back.size_bytes(); ++i)
    ASSERT_NEAR(back.data()[i], flat.data()[i], 4) << "sample " << i;
}

TEST(public_image_codec, bytes_that_are_neither_png_nor_jpeg_are_refused) {
  const std::string text = "hello, not a picture";
  try {
    (void)decode_image(bytes_of(text));
    FAIL() << "decoded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_image);
    EXPECT_NE(std::string(e.what()).find("neither a PNG nor a JPEG"), std::string::npos) << e.what();
  }
  auto cut = encode_png(test::pattern_image(20, 20, pixel_order::bgr));
  cut.resize(cut.size() / 2);
  try {
    (void)decode_image(bytes_of(cut));
    FAIL() << "decoded a truncated PNG";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_image) << e.what();
  }
}

TEST(public_image_codec, an_image_over_max_pixels_is_refused_before_its_pixels) {
  auto png = encode_png(test::pattern_image(100, 100, pixel_order::gray));
  try {
    (void)decode_image(bytes_of(png), 9999);
    FAIL() << "decoded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::image_too_large) << e.what();
  }
  EXPECT_EQ(decode_image(bytes_of(png), 10000).width(), 100u);
}

TEST(public_image_codec, a_file_is_read_and_decoded_and_its_failures_name_it) {
  test::temp_dir dir;
  auto img = test::pattern_image(30, 10, pixel_order::bgr);
  {
    std::ofstream out(dir.file("pic.png"), std::ios::binary);
    auto png = encode_png(img);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
  }
  EXPECT_EQ(read_image_file(dir.file("pic.png")), img);

  try {
    (void)read_image_file(dir.file("missing.png"));
    FAIL() << "read a missing file";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("missing.png"), std::string::npos) << e.what();
  }
  {
    std::ofstream out(dir.file("notes.png"));
    out << "not a picture at all";
  }
  try {
    (void)read_image_file(dir.file("notes.png"));
    FAIL() << "decoded text";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_image);
    EXPECT_NE(std::string(e.what()).find("notes.png"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace socketengine
