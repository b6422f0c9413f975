// The legacy protocol's lines: decoding and encoding values, channels and
// image lines, bad input included.

#include "protocol/legacy/line_codec.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <socketengine/error.hpp>

#include "protocol/legacy/channels.hpp"
#include "support/test_images.hpp"

namespace socketengine::detail::legacy {
namespace {

using status = decode_result::status;
using test::base64_of;
using test::pattern_image;
using test::png_claiming;
using test::png_of;

decoded_message decode_ok(std::string_view line) {
  auto r = decode_line(line, 64);
  EXPECT_EQ(r.what, status::message) << line << ": " << r.detail;
  return r.message;
}

std::error_code decode_err(std::string_view line, std::size_t depth = 64) {
  auto r = decode_line(line, depth);
  EXPECT_EQ(r.what, status::error) << line;
  EXPECT_FALSE(r.detail.empty());
  return r.error;
}

TEST(legacy_codec, python_spacing) {
  auto m = decode_ok(R"({"type": "test", "data": "hello"})");
  EXPECT_EQ(m.channel, "test");
  EXPECT_EQ(m.data, "hello");
}

TEST(legacy_codec, node_spacing) {
  auto m = decode_ok(R"({"type":"test","data":"hello"})");
  EXPECT_EQ(m.channel, "test");
  EXPECT_EQ(m.data, "hello");
}

TEST(legacy_codec, key_order_swapped_and_odd_spacing) {
  auto m = decode_ok(" {\t\"data\" :\"x\" ,  \"type\":\"c\"}  ");
  EXPECT_EQ(m.channel, "c");
  EXPECT_EQ(m.data, "x");
}

TEST(legacy_codec, extra_keys_are_ignored) {
  auto m = decode_ok(R"({"type":"c","data":1,"extra":true})");
  EXPECT_EQ(m.data, 1);
}

TEST(legacy_codec, trailing_carriage_return_is_ignored) {
  EXPECT_EQ(decode_ok("{\"type\":\"c\",\"data\":2}\r").data, 2);
}

TEST(legacy_codec, escaped_and_raw_utf8_decode_alike) {
  auto py = decode_ok(R"({"type": "caf\u00e9", "data": "caf\u00e9 \ud83d\ude00"})");
  auto node = decode_ok("{\"type\":\"caf\xc3\xa9\",\"data\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
  EXPECT_EQ(py.channel, "caf\xc3\xa9");
  EXPECT_EQ(py.channel, node.channel);
  EXPECT_EQ(py.data, node.data);
}

TEST(legacy_codec, every_json_value_type) {
  EXPECT_EQ(decode_ok(R"({"type":"t","data":"s"})").data, "s");
  EXPECT_EQ(decode_ok(R"({"type":"t","data":42})").data, 42);
  EXPECT_EQ(decode_ok(R"({"type":"t","data":-7})").data, -7);
  EXPECT_DOUBLE_EQ(decode_ok(R"({"type":"t","data":3.5e2})").data.get<double>(), 350.0);
  EXPECT_EQ(decode_ok(R"({"type":"t","data":true})").data, true);
  EXPECT_EQ(decode_ok(R"({"type":"t","data":false})").data, false);
  EXPECT_TRUE(decode_ok(R"({"type":"t","data":null})").data.is_null());
  EXPECT_EQ(decode_ok(R"({"type":"t","data":[1,"a",null]})").data, value({1, "a", nullptr}));
  EXPECT_EQ(decode_ok(R"({"type":"t","data":{"k":{"n":[]}}})").data,
            value::parse(R"({"k":{"n":[]}})"));
  EXPECT_EQ(decode_ok(R"({"type":"t","data":18446744073709551615})").data.get<std::uint64_t>(),
            18446744073709551615ull);
}

TEST(legacy_codec, blank_lines_are_skipped_silently) {
  EXPECT_EQ(decode_line("", 64).what, status::blank);
  EXPECT_EQ(decode_line("  \t", 64).what, status::blank);
  EXPECT_EQ(decode_line("\r", 64).what, status::blank);
}

TEST(legacy_codec, invalid_json_is_reported) {
  EXPECT_EQ(decode_err(R"({"type":"t","data":)"), errc::invalid_json);
  EXPECT_EQ(decode_err("hello"), errc::invalid_json);
  EXPECT_EQ(decode_err(R"({"type":"t","data":1}})"), errc::invalid_json);
  EXPECT_EQ(decode_err(R"({"type":"t","data":'x'})"), errc::invalid_json);
}

TEST(legacy_codec, missing_keys_are_reported) {
  EXPECT_EQ(decode_err(R"({"data":1})"), errc::missing_key);
  EXPECT_EQ(decode_err(R"({"type":"t"})"), errc::missing_key);
  EXPECT_EQ(decode_err(R"({})"), errc::missing_key);
}

TEST(legacy_codec, non_messages_are_reported) {
  EXPECT_EQ(decode_err(R"([1,2])"), errc::invalid_message);
  EXPECT_EQ(decode_err(R"("text")"), errc::invalid_message);
  EXPECT_EQ(decode_err(R"({"type":5,"data":1})"), errc::invalid_message);
}

TEST(legacy_codec, invalid_utf8_is_reported) {
  const char* bad[] = {
      "{\"type\":\"t\",\"data\":\"\x80\"}",         // lone continuation byte
      "{\"type\":\"t\",\"data\":\"\xc0\x80\"}",     // overlong NUL
      "{\"type\":\"t\",\"data\":\"\xed\xa0\x80\"}", // UTF-16 surrogate
      "{\"type\":\"t\",\"data\":\"\xf5\x80\x80\x80\"}", // past U+10FFFF
      "{\"type\":\"t\",\"data\":\"\xe2\x82\"}",     // truncated sequence
      "{\"type\":\"\xff\",\"data\":1}",             // in the channel
  };
  for (const char* line : bad) EXPECT_EQ(decode_err(line), errc::invalid_utf8) << line;
}

TEST(legacy_codec, nesting_past_the_limit_is_reported) {
  std::string deep = R"({"type":"t","data":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(decode_err(deep, 64), errc::too_deep);
  EXPECT_EQ(decode_line(deep, 200).what, status::message);
}

TEST(legacy_codec, brackets_inside_strings_do_not_count_as_nesting) {
  std::string line = R"({"type":"t","data":")" + std::string(100, '[') + R"(\"{{{"})";
  EXPECT_EQ(decode_line(line, 4).what, status::message);
}

TEST(legacy_codec, a_million_brackets_do_not_overflow_the_stack) {
  std::string deep = R"({"type":"t","data":)" + std::string(1'000'000, '[');
  EXPECT_EQ(decode_err(deep, 64), errc::too_deep);
}

TEST(legacy_codec, encodes_compact_ascii_lines) {
  std::string out;
  append_line(out, "speed", "3.5");
  EXPECT_EQ(out, "{\"type\":\"speed\",\"data\":\"3.5\"}\n");
  out.clear();
  append_line(out, "caf\xc3\xa9", "caf\xc3\xa9");
  EXPECT_EQ(out, "{\"type\":\"caf\\u00e9\",\"data\":\"caf\\u00e9\"}\n");
  out.clear();
  append_line(out, "connected", true);
  EXPECT_EQ(out, "{\"type\":\"connected\",\"data\":true}\n");
}

TEST(legacy_codec, newlines_in_strings_stay_escaped_inside_one_line) {
  std::string out;
  append_line(out, "a\nb", "x\ny");
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  auto m = decode_ok(std::string_view(out).substr(0, out.size() - 1));
  EXPECT_EQ(m.channel, "a\nb");
  EXPECT_EQ(m.data, "x\ny");
}

TEST(legacy_codec, encode_then_decode_round_trips_every_type) {
  value values[] = {"s", 1, -1, 2.25, true, false, nullptr, value::array({1, "x"}),
                    value::object({{"k", value::array({nullptr})}})};
  for (auto& v : values) {
    std::string out;
    append_line(out, "ch", v);
    auto m = decode_ok(std::string_view(out).substr(0, out.size() - 1));
    EXPECT_EQ(m.data, v) << out;
  }
}

// append_line writes common values itself instead of through dump(); the
// bytes must be exactly what dump(-1, ' ', true) gives, for values on both
// sides of every shortcut.
TEST(legacy_codec, encoding_matches_nlohmann_dump_byte_for_byte) {
  const std::string texts[] = {"", "plain text / slash", "quote \"", "back\\slash", "tab\t",
                               "del\x7f", "\x1f", "caf\xc3\xa9", "\xf0\x9f\x98\x80", "~ }"};
  std::vector<value> values = {0, -1, 42, std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max(),
                               std::numeric_limits<std::uint64_t>::max(), 0.5, 1.0, -2.5e-300,
                               1e300, true, false, nullptr, value::array({1, "a"}),
                               value::object({{"b", 1}, {"a", "\xc3\xa9"}})};
  for (const auto& t : texts) values.emplace_back(t);
  for (const auto& channel : texts) {
    for (const auto& v : values) {
      std::string out;
      append_line(out, channel, v);
      EXPECT_EQ(out, R"({"type":)" + value(channel).dump(-1, ' ', true) + R"(,"data":)" +
                         v.dump(-1, ' ', true) + "}\n");
    }
  }
}

// Simple lines skip nlohmann's parser; what they decode to must be exactly
// what the parser makes of them (types included: 5 is unsigned, -5 signed).
TEST(legacy_codec, decoding_matches_nlohmann_parse_exactly) {
  const char* lines[] = {
      R"({"type":"x","data":123})", R"({"type": "x", "data": 0})", R"({"type":"x","data":-0})",
      R"({"type":"x","data":-42})", R"({"type":"x","data":18446744073709551615})",
      R"({"type":"x","data":18446744073709551616})", R"({"type":"x","data":-9223372036854775808})",
      R"({"type":"x","data":-9223372036854775809})", R"({"type":"x","data":1.5})",
      R"({"type":"x","data":1e3})", R"({"type":"x","data":"text"})",
      R"({"type":"x","data":"esc\"aped\n"})", "{\"type\":\"caf\xc3\xa9\",\"data\":\"caf\xc3\xa9\"}",
      R"({"type":"caf\u00e9","data":"caf\u00e9"})", R"({"type":"x","data":true})",
      R"({"type":"x","data":false})", R"({"type":"x","data":null})", R"({"type":"x","data":[1]})",
      R"({"type":"x","data":{"a":1}})", R"({"data":1,"type":"x"})",
      "{ \t\"type\" :\t\"x\" ,\r\n \"data\" : 7 } ", R"({"type":"","data":""})",
      R"({"type":"x","data":"del)" "\x7f" R"("})"};
  for (std::string_view line : lines) {
    auto r = decode_line(line, 64);
    ASSERT_EQ(r.what, status::message) << line;
    auto expected = value::parse(line);
    EXPECT_EQ(r.message.channel, expected["type"].get<std::string>()) << line;
    EXPECT_EQ(r.message.data, expected["data"]) << line;
    EXPECT_EQ(r.message.data.type(), expected["data"].type()) << line;
  }
}

TEST(legacy_codec, simple_lines_with_errors_are_still_reported) {
  for (std::string_view line : {R"({"type":"x","data":01})", R"({"type":"x","data":tru})",
                                R"({"type":"x","data":1} x)", R"({"type":"x","data":-})",
                                "{\"type\":\"x\",\"data\":\"a\tb\"}"}) {
    EXPECT_EQ(decode_line(line, 64).what, status::error) << line;
  }
}

TEST(legacy_codec, invalid_utf8_is_refused_when_encoding) {
  std::string out = "kept";
  try {
    append_line(out, "t", std::string("\xff"));
    FAIL() << "expected an exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_utf8);
  }
  EXPECT_EQ(out, "kept");
}

// --- image lines ----------------------------------------------------------------

TEST(image_line, is_one_json_line_with_base64_png) {
  std::string line;
  append_image_line(line, channels::image, pattern_image(3, 3, pixel_order::bgr), 1);
  EXPECT_EQ(line.rfind(R"({"type":"__image","data":"iVBORw0KGgo)", 0), 0u) << line;
  EXPECT_EQ(line.substr(line.size() - 3), "\"}\n");
  auto r = decode_line(std::string_view(line).substr(0, line.size() - 1), 64);
  ASSERT_EQ(r.what, decode_result::status::message);
  EXPECT_EQ(r.message.channel, "__image");
}

TEST(image_line, round_trips_through_decode_image_data) {
  auto img = pattern_image(33, 17, pixel_order::bgra, 5);
  std::string line;
  append_image_line(line, channels::plain_image, img, 1);
  auto text = match_image_line(std::string_view(line).substr(0, line.size() - 1), "image");
  ASSERT_TRUE(text);
  std::error_code ec;
  std::string detail;
  auto back = decode_image_data(*text, 1000, ec, detail);
  ASSERT_TRUE(back) << detail;
  EXPECT_EQ(*back, img);
}

TEST(image_line, fast_path_recognises_python_and_node_spacing) {
  EXPECT_EQ(match_image_line(R"({"type": "__image", "data": "QUJD"})", "__image"), "QUJD");
  EXPECT_EQ(match_image_line(R"({"type":"__image","data":"QUJD"})", "__image"), "QUJD");
  EXPECT_EQ(match_image_line(" {\t\"type\" :\"__image\" ,\"data\": \"\" }\r", "__image"), "");
}

TEST(image_line, fast_path_leaves_everything_else_to_the_parser) {
  for (const char* line : {R"({"data": "QUJD", "type": "__image"})",
                           R"({"type": "__image", "data": "QU\/D"})",
                           R"({"type": "image", "data": "QUJD"})",
                           R"({"type": "__image", "data": "QUJD"} x)",
                           R"({"type": "__image", "data": "QUJD")",
                           R"({"type": "__image", "data": "QUJD})",
                           R"({"type": "__image", "data": 5})",
                           R"({"type": "__image", "data": "a", "extra": 1})",
                           R"({"type": "__images", "data": "QUJD"})",
                           "{\"type\": \"__image\", \"data\": \"QU\xff\"}",
                           "{\"type\": \"__image\", \"data\": \"QU\tJD\"}"}) {
    EXPECT_FALSE(match_image_line(line, "__image")) << line;
  }
}

} // namespace
} // namespace socketengine::detail::legacy
