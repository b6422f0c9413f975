// Fuzz target: base64. Any text decodes or is refused without reading or
// writing out of bounds; any bytes encode as a plain bit-by-bit reference
// encoder does, and decode back to themselves.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "protocol/legacy/base64.hpp"

using namespace socketengine::detail::legacy::base64;

namespace {

// RFC 4648 written the slow, obvious way: six bits at a time.
std::string reference_encode(const std::uint8_t* data, std::size_t size) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t bit = 0; bit < size * 8; bit += 6) {
    unsigned v = 0;
    for (std::size_t b = bit; b < bit + 6; ++b) {
      unsigned one = b < size * 8 ? (data[b / 8] >> (7 - b % 8)) & 1u : 0u;
      v = v << 1 | one;
    }
    out += alphabet[v];
  }
  while (out.size() % 4 != 0) out += '=';
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::uint8_t> out(max_decoded_size(size));
  auto n = decode(text, out.data());
  if (n && *n > out.size()) std::abort();

  std::string encoded(encoded_size(size), '\0');
  encode({data, size}, encoded.data());
  if (encoded != reference_encode(data, size)) std::abort();
  std::vector<std::uint8_t> back(max_decoded_size(encoded.size()));
  auto m = decode(encoded, back.data());
  if (!m || *m != size || (size > 0 && std::memcmp(back.data(), data, size) != 0)) std::abort();
  return 0;
}
