#include "protocol/legacy/base64.hpp"

#include <array>

namespace socketengine::detail::legacy::base64 {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Two output characters for each 12-bit group.
constexpr auto pair_table = [] {
  std::array<char, 4096 * 2> t{};
  for (std::size_t i = 0; i < 4096; ++i) {
    t[2 * i] = alphabet[i >> 6];
    t[2 * i + 1] = alphabet[i & 63];
  }
  return t;
}();

constexpr std::uint32_t bad = 0xFF000000; // any bit above the 24 data bits

// The value of a character shifted into place for position 0..3 of a
// quadruple, or `bad`: OR-ing the four lookups gives the 24 decoded bits,
// and a single test of the top byte catches any invalid character.
constexpr auto make_table(int shift) {
  std::array<std::uint32_t, 256> t{};
  t.fill(bad);
  for (std::uint32_t i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = i << shift;
  return t;
}
constexpr auto d0 = make_table(18);
constexpr auto d1 = make_table(12);
constexpr auto d2 = make_table(6);
constexpr auto d3 = make_table(0);

std::uint32_t quad(const unsigned char* s) noexcept {
  return d0[s[0]] | d1[s[1]] | d2[s[2]] | d3[s[3]];
}

} // namespace

void encode(std::span<const std::uint8_t> in, char* out) noexcept {
  const std::uint8_t* p = in.data();
  std::size_t n = in.size();
  for (; n >= 3; n -= 3, p += 3, out += 4) {
    std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    const char* hi = &pair_table[(v >> 12) * 2];
    const char* lo = &pair_table[(v & 0xFFF) * 2];
    out[0] = hi[0];
    out[1] = hi[1];
    out[2] = lo[0];
    out[3] = lo[1];
  }
  if (n == 0) return;
  std::uint32_t v = std::uint32_t{p[0]} << 16;
  if (n == 2) v |= std::uint32_t{p[1]} << 8;
  out[0] = alphabet[v >> 18];
  out[1] = alphabet[(v >> 12) & 63];
  out[2] = n == 2 ? alphabet[(v >> 6) & 63] : '=';
  out[3] = '=';
}

std::optional<std::size_t> decode(std::string_view in, std::uint8_t* out) noexcept {
  auto s = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t n = in.size();
  // Padding belongs to the last quadruple only: take it off, and what
  // remains must be whole quadruples plus 2 or 3 characters (or none).
  std::size_t pad = 0;
  if (n % 4 == 0 && n >= 4) {
    if (s[n - 1] == '=') ++pad;
    if (s[n - 2] == '=') ++pad;
    if (pad == 1 && s[n - 2] == '=') return std::nullopt; // "..=x": '=' mid-tail
  }
  n -= pad;
  if (n % 4 == 1) return std::nullopt;
  std::uint8_t* const start = out;
  std::size_t whole = n / 4;
  for (std::size_t i = 0; i < whole; ++i, s += 4, out += 3) {
    std::uint32_t v = quad(s);
    if (v & bad) return std::nullopt;
    out[0] = static_cast<std::uint8_t>(v >> 16);
    out[1] = static_cast<std::uint8_t>(v >> 8);
    out[2] = static_cast<std::uint8_t>(v);
  }
  std::size_t rest = n % 4;
  if (rest != 0) {
    const unsigned char pad_char = 'A'; // decodes to zero bits
    unsigned char tail[4] = {s[0], s[1], rest == 3 ? s[2] : pad_char, pad_char};
    std::uint32_t v = quad(tail);
    if (v & bad) return std::nullopt;
    *out++ = static_cast<std::uint8_t>(v >> 16);
    if (rest == 3) *out++ = static_cast<std::uint8_t>(v >> 8);
  }
  return static_cast<std::size_t>(out - start);
}

} // namespace socketengine::detail::legacy::base64
