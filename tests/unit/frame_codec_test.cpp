// The native protocol's frames: exact bytes, every kind round-tripping
// through the frame reader, streams split at every byte offset, and bad
// frames refused before anything large is allocated.

#include "protocol/native/frame_codec.hpp"
#include "protocol/native/frame_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <socketengine/error.hpp>

#include "support/test_images.hpp"

namespace socketengine::detail::native {
namespace {

struct frame_copy {
  frame_kind kind;
  std::string channel;
  std::vector<std::uint8_t> payload;
  bool owned;                        // came in a buffer of its own
  std::shared_ptr<const void> owner; // kept to check the views stay valid
};

struct collected {
  std::vector<frame_copy> frames;
  std::vector<std::string> errors;
};

// Feeds `bytes` in reads of at most `chunk` bytes (and never more than
// prepare() offers) and collects the frames. Returns false if the reader
// gave up on the stream.
bool feed(frame_reader& r, std::string_view bytes, collected& out,
          std::size_t chunk = std::string_view::npos) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    std::size_t n = std::min({space.size(), bytes.size(), chunk});
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
    bool sound = r.consume([&](std::span<const std::uint8_t> body, std::shared_ptr<const void> owner) {
      std::string detail;
      auto f = native::parse_frame(body, owner, detail);
      if (!f) {
        out.errors.push_back(detail);
        return;
      }
      out.frames.push_back({f->kind, std::string(f->channel),
                            std::vector<std::uint8_t>(f->payload.begin(), f->payload.end()),
                            owner != nullptr, owner});
    });
    if (!sound) return false;
    r.release_if_empty();
  }
  return true;
}

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

TEST(native_codec, json_frame_has_the_documented_bytes) {
  std::string out;
  native::append_json(out, "speed", value(3));
  // size 4 + 5 + 1 = 10; kind 1; flags 0; channel length 5.
  EXPECT_EQ(out, std::string("\x0a\x00\x00\x00\x01\x00\x05\x00"
                             "speed3",
                             14));
}

TEST(native_codec, bytes_control_and_ack_frames_have_the_documented_bytes) {
  std::string out;
  const std::uint8_t raw[] = {0x00, 0xFF, 0x0A};
  native::append_bytes(out, "b", raw);
  EXPECT_EQ(out, std::string("\x08\x00\x00\x00\x02\x00\x01\x00"
                             "b\x00\xff\x0a",
                             12));
  out.clear();
  native::append_control(out, native::control_code::closing);
  EXPECT_EQ(out, std::string("\x05\x00\x00\x00\x04\x00\x00\x00\x02", 9));
  out.clear();
  native::append_ack(out, 0x01020304);
  EXPECT_EQ(out, std::string("\x09\x00\x00\x00\x04\x00\x00\x00\x01\x04\x03\x02\x01", 13));
}

TEST(native_codec, image_header_has_the_documented_bytes) {
  auto img = test::pattern_image(3, 2, pixel_order::rgb);
  auto frame = native::encode_image(img, image_encoding::raw, 1, 90);
  ASSERT_EQ(frame->size(), native::header_size + native::image_header_size + 18);
  EXPECT_EQ(frame->substr(0, 20), std::string("\x22\x00\x00\x00\x03\x00\x00\x00"
                                              "\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00",
                                              20));
  EXPECT_EQ(0, std::memcmp(frame->data() + 20, img.data(), 18));
}

TEST(native_codec, a_channel_too_long_for_a_frame_is_refused) {
  std::string out = "kept";
  EXPECT_THROW(native::append_json(out, std::string(70000, 'c'), value(1)), std::invalid_argument);
  EXPECT_EQ(out, "kept");
  EXPECT_NO_THROW(native::append_json(out, std::string(65535, 'c'), value(1)));
}

TEST(native_codec, a_bad_string_leaves_the_buffer_as_it_was) {
  std::string out = "kept";
  EXPECT_THROW(native::append_json(out, "c", value(std::string("\xff"))), std::system_error);
  EXPECT_EQ(out, "kept");
}

// One stream with every kind of frame, used whole and cut up below.
struct sample_stream {
  std::string bytes;
  std::vector<frame_copy> expected;
};

sample_stream make_stream(std::size_t big_bytes) {
  sample_stream s;
  auto add = [&](frame_kind kind, std::string channel, std::string_view encoded,
                 std::size_t payload_offset) {
    s.bytes += encoded;
    auto payload = encoded.substr(payload_offset);
    s.expected.push_back({kind, std::move(channel), bytes_of(payload), false, {}});
  };
  std::string f;
  native::append_json(f, "caf\xc3\xa9", value{{"x", {1, 2.5, "\xe2\x82\xac"}}});
  add(frame_kind::json, "caf\xc3\xa9", f, native::header_size + 5);
  f.clear();
  std::vector<std::uint8_t> raw(300);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 7);
  native::append_bytes(f, "raw", raw);
  add(frame_kind::bytes, "raw", f, native::header_size + 3);
  f.clear();
  native::append_bytes(f, "", {});
  add(frame_kind::bytes, "", f, native::header_size);
  f.clear();
  native::append_ack(f, 2);
  add(frame_kind::control, "", f, native::header_size);
  f.clear();
  auto img = test::pattern_image(7, 5, pixel_order::bgra);
  auto frame = native::encode_image(img, image_encoding::raw, 1, 90);
  add(frame_kind::image, "", *frame, native::header_size);
  // Larger than the reader's buffer: read into one of its own.
  std::vector<std::uint8_t> big(big_bytes);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i % 251);
  f.clear();
  native::append_bytes(f, "big", big);
  add(frame_kind::bytes, "big", f, native::header_size + 3);
  f.clear();
  native::append_json(f, "last", value(nullptr));
  add(frame_kind::json, "last", f, native::header_size + 4);
  return s;
}

void expect_frames(const collected& got, const sample_stream& s) {
  EXPECT_TRUE(got.errors.empty()) << got.errors.front();
  ASSERT_EQ(got.frames.size(), s.expected.size());
  for (std::size_t i = 0; i < got.frames.size(); ++i) {
    EXPECT_EQ(got.frames[i].kind, s.expected[i].kind) << i;
    EXPECT_EQ(got.frames[i].channel, s.expected[i].channel) << i;
    EXPECT_EQ(got.frames[i].payload, s.expected[i].payload) << i;
  }
}

TEST(frame_reader, every_kind_round_trips_in_one_read) {
  auto s = make_stream(200'000);
  frame_reader r(1 << 20, 4096);
  collected got;
  ASSERT_TRUE(feed(r, s.bytes, got));
  expect_frames(got, s);
  // The large frame came in a buffer of its own; the small ones did not.
  EXPECT_TRUE(got.frames[5].owned);
  EXPECT_FALSE(got.frames[0].owned);
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_EQ(r.held(), 0u); // an empty reader holds no buffer
}

TEST(frame_reader, a_stream_split_at_every_byte_offset_decodes) {
  auto s = make_stream(9000); // past the 4 KiB buffer, small enough to try every cut
  for (std::size_t cut = 1; cut < s.bytes.size(); ++cut) {
    frame_reader r(1 << 20, 4096);
    collected got;
    ASSERT_TRUE(feed(r, std::string_view(s.bytes).substr(0, cut), got));
    ASSERT_TRUE(feed(r, std::string_view(s.bytes).substr(cut), got));
    expect_frames(got, s);
    if (HasFailure()) {
      ADD_FAILURE() << "cut at byte " << cut;
      return;
    }
  }
}

TEST(frame_reader, one_byte_reads_decode) {
  auto s = make_stream(9000);
  frame_reader r(1 << 20, 4096);
  collected got;
  ASSERT_TRUE(feed(r, s.bytes, got, 1));
  expect_frames(got, s);
}

TEST(frame_reader, bytes_that_came_with_the_switch_line_are_taken_first) {
  auto s = make_stream(9000);
  for (std::size_t cut : {std::size_t{0}, std::size_t{3}, std::size_t{100}, s.bytes.size()}) {
    frame_reader r(1 << 20, 4096);
    r.assign(std::string_view(s.bytes).substr(0, cut));
    collected got;
    bool sound = r.consume([&](std::span<const std::uint8_t> body, std::shared_ptr<const void> o) {
      std::string detail;
      auto f = native::parse_frame(body, o, detail);
      ASSERT_TRUE(f) << detail;
      got.frames.push_back({f->kind, std::string(f->channel),
                            std::vector<std::uint8_t>(f->payload.begin(), f->payload.end()),
                            o != nullptr, o});
    });
    ASSERT_TRUE(sound);
    ASSERT_TRUE(feed(r, std::string_view(s.bytes).substr(cut), got));
    expect_frames(got, s);
  }
}

TEST(frame_reader, an_owned_frame_outlives_the_reader) {
  auto s = make_stream(100'000);
  collected got;
  {
    frame_reader r(1 << 20, 4096);
    ASSERT_TRUE(feed(r, s.bytes, got));
  }
  auto& big = got.frames[5];
  ASSERT_TRUE(big.owner);
  // The owner keeps the whole frame: its last payload byte is still there.
  auto* base = static_cast<const std::uint8_t*>(big.owner.get());
  EXPECT_EQ(base[native::header_size + 3 + 99'999], 99'999 % 251);
}

TEST(frame_reader, a_frame_over_the_limit_is_refused_from_its_size_field) {
  frame_reader r(1000, 4096);
  collected got;
  // Claims 4 GiB - 1: refused from the first four bytes, nothing allocated
  // for it (the reader holds only its small buffer).
  std::string bad("\xff\xff\xff\xff\x02\x00\x00\x00", 8);
  EXPECT_FALSE(feed(r, bad, got));
  EXPECT_EQ(r.bad_size(), 0xFFFFFFFFu);
  EXPECT_LE(r.held(), 4096u);
}

TEST(frame_reader, the_limit_itself_is_accepted) {
  frame_reader r(1000, 256);
  std::string f;
  native::append_bytes(f, "x", std::vector<std::uint8_t>(1000 - 5, 7));
  ASSERT_EQ(native::load_u32(reinterpret_cast<const std::uint8_t*>(f.data())), 1000u);
  collected got;
  ASSERT_TRUE(feed(r, f, got));
  ASSERT_EQ(got.frames.size(), 1u);
  f.clear();
  native::append_bytes(f, "x", std::vector<std::uint8_t>(1000 - 4, 7));
  EXPECT_FALSE(feed(r, f, got));
}

TEST(frame_reader, a_size_too_short_for_a_header_is_refused) {
  for (char size : {'\x00', '\x01', '\x03'}) {
    frame_reader r(1000, 4096);
    collected got;
    EXPECT_FALSE(feed(r, std::string({size, 0, 0, 0, 1, 0, 0, 0}), got));
  }
}

TEST(native_codec, malformed_frames_are_reported_and_the_stream_goes_on) {
  std::string stream;
  auto raw_frame = [&](std::string body) {
    char n[4];
    for (int i = 0; i < 4; ++i) n[i] = static_cast<char>((body.size() >> (8 * i)) & 0xFF);
    stream.append(n, 4);
    stream += body;
  };
  raw_frame(std::string("\x09\x00\x00\x00", 4));             // unknown kind
  raw_frame(std::string("\x01\x01\x00\x00", 4));             // flags
  raw_frame(std::string("\x01\x00\x10\x00" "abc", 7));       // channel past the end
  raw_frame(std::string("\x04\x00\x01\x00" "c\x01", 6));     // control frame with a channel
  raw_frame(std::string("\x04\x00\x00\x00", 4));             // control frame without a code
  native::append_json(stream, "ok", value(1));
  frame_reader r(1 << 20, 4096);
  collected got;
  ASSERT_TRUE(feed(r, stream, got));
  EXPECT_EQ(got.errors.size(), 5u);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0].channel, "ok");
}

// --- images -----------------------------------------------------------------

std::optional<image> decode_frame(const std::string& bytes, std::uint64_t max_pixels,
                                  std::error_code& ec, std::string& detail) {
  auto body = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            bytes.size())
                  .subspan(native::size_field);
  auto f = native::parse_frame(body, nullptr, detail);
  if (!f) return std::nullopt;
  return native::decode_image(*f, max_pixels, ec, detail);
}

TEST(native_images, raw_frames_round_trip_bit_exact_in_every_order) {
  for (auto order : {pixel_order::gray, pixel_order::bgr, pixel_order::rgb, pixel_order::bgra,
                     pixel_order::rgba}) {
    auto img = test::pattern_image(641, 479, order);
    auto frame = native::encode_image(img, image_encoding::raw, 1, 90);
    std::error_code ec;
    std::string detail;
    auto back = decode_frame(*frame, 1 << 24, ec, detail);
    ASSERT_TRUE(back) << detail;
    EXPECT_EQ(*back, img) << to_string(order);
  }
}

TEST(native_images, png_frames_round_trip_bit_exact) {
  for (auto order : {pixel_order::gray, pixel_order::bgr, pixel_order::bgra}) {
    auto img = test::pattern_image(64, 48, order);
    auto frame = native::encode_image(img, image_encoding::png, 1, 90);
    std::error_code ec;
    std::string detail;
    auto back = decode_frame(*frame, 1 << 24, ec, detail);
    ASSERT_TRUE(back) << detail;
    EXPECT_EQ(*back, img) << to_string(order);
  }
}

TEST(native_images, jpeg_frames_round_trip_close_to_the_original) {
  auto img = test::pattern_image(64, 48, pixel_order::bgr);
  // A smooth image, as JPEG is meant for.
  for (std::uint32_t y = 0; y < 48; ++y)
    for (std::uint32_t x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c)
        img.data()[(y * 64 + x) * 3 + c] = static_cast<std::uint8_t>(x * 2 + y + c * 40);
  auto frame = native::encode_image(img, image_encoding::jpeg, 1, 95);
  std::error_code ec;
  std::string detail;
  auto back = decode_frame(*frame, 1 << 24, ec, detail);
  ASSERT_TRUE(back) << detail;
  ASSERT_EQ(back->width(), 64u);
  ASSERT_EQ(back->order(), pixel_order::bgr);
  double error = 0;
  for (std::size_t i = 0; i < img.size_bytes(); ++i)
    error += std::abs(int(img.data()[i]) - int(back->data()[i]));
  EXPECT_LT(error / double(img.size_bytes()), 4.0);
}

TEST(native_images, raw_pixels_that_do_not_match_the_header_are_refused) {
  auto img = test::pattern_image(10, 10, pixel_order::bgr);
  auto frame = *native::encode_image(img, image_encoding::raw, 1, 90);
  frame.pop_back(); // one byte of pixels short; fix the size field
  auto size = static_cast<std::uint32_t>(frame.size() - native::size_field);
  std::memcpy(frame.data(), &size, 4); // the test machines are little-endian
  std::error_code ec;
  std::string detail;
  EXPECT_FALSE(decode_frame(frame, 1 << 24, ec, detail));
  EXPECT_EQ(ec, errc::invalid_image);
}

TEST(native_images, a_raw_image_over_max_pixels_is_refused) {
  auto img = test::pattern_image(10, 10, pixel_order::gray);
  auto frame = native::encode_image(img, image_encoding::raw, 1, 90);
  std::error_code ec;
  std::string detail;
  EXPECT_TRUE(decode_frame(*frame, 100, ec, detail));
  EXPECT_FALSE(decode_frame(*frame, 99, ec, detail));
  EXPECT_EQ(ec, errc::image_too_large);
}

TEST(native_images, a_bad_image_header_is_refused) {
  auto img = test::pattern_image(4, 4, pixel_order::gray);
  for (std::size_t at : {std::size_t{16}, std::size_t{17}, std::size_t{18}}) {
    auto frame = *native::encode_image(img, image_encoding::raw, 1, 90);
    frame[at] = '\x09'; // order, encoding, reserved
    std::error_code ec;
    std::string detail;
    EXPECT_FALSE(decode_frame(frame, 1 << 24, ec, detail));
    EXPECT_EQ(ec, errc::invalid_frame) << at;
  }
}

} // namespace
} // namespace socketengine::detail::native
