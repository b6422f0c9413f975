#include "protocol/legacy/base64.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace socketengine::detail::legacy {
namespace {

std::string encode(const std::vector<std::uint8_t>& in) {
  std::string out(base64::encoded_size(in.size()), '?');
  base64::encode(in, out.data());
  return out;
}

std::string encode(std::string_view in) {
  return encode(std::vector<std::uint8_t>(in.begin(), in.end()));
}

std::optional<std::vector<std::uint8_t>> decode(std::string_view in) {
  std::vector<std::uint8_t> out(base64::max_decoded_size(in.size()));
  auto n = base64::decode(in, out.data());
  if (!n) return std::nullopt;
  EXPECT_LE(*n, out.size());
  out.resize(*n);
  return out;
}

// A slow, obviously correct encoder to check the table-driven one against:
// six bits at a time off a bit accumulator.
std::string reference_encode(const std::vector<std::uint8_t>& in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto b : in) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(base64, rfc4648_test_vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    EXPECT_EQ(encode(plain), coded);
    auto back = decode(coded);
    ASSERT_TRUE(back) << coded;
    EXPECT_EQ(std::string(back->begin(), back->end()), plain);
  }
}

TEST(base64, every_length_and_byte_value_matches_the_reference) {
  for (std::size_t n = 0; n <= 300; ++n) {
    auto data = random_bytes(n, static_cast<unsigned>(n));
    auto coded = encode(data);
    ASSERT_EQ(coded, reference_encode(data)) << n;
    EXPECT_EQ(decode(coded), data) << n;
  }
  std::vector<std::uint8_t> all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(encode(all), reference_encode(all));
  EXPECT_EQ(decode(encode(all)), all);
}

TEST(base64, a_megabyte_round_trips) {
  auto data = random_bytes(std::size_t{1} << 20, 7);
  auto coded = encode(data);
  EXPECT_EQ(coded, reference_encode(data));
  EXPECT_EQ(decode(coded), data);
}

TEST(base64, padding_may_be_left_out) {
  EXPECT_EQ(decode("Zg"), decode("Zg=="));
  EXPECT_EQ(decode("Zm8"), decode("Zm8="));
}

TEST(base64, rejects_what_no_encoder_writes) {
  for (const char* bad : {"Z", "Zm9vY", "Zg=", "Z===", "====", "Zm=v", "Zg==Zg==", "Zm9v=",
                          "Zm9v\n", "Zm 9v", " Zm9v", "Zm9-", "Zm9_", "Zm9v\r", "Zm9\x80"}) {
    EXPECT_FALSE(decode(bad)) << '"' << bad << '"';
  }
  // An embedded NUL, which a C string would hide.
  EXPECT_FALSE(decode(std::string_view("Zm\0v", 4)));
}

} // namespace
} // namespace socketengine::detail::legacy
