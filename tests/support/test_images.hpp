#pragma once
// Test images: deterministic, different in every sample position, and not
// trivially compressible, so a swapped channel, a shifted row or a lost
// byte shows; and the encodings tests feed to a peer, forged ones included.

#include <cstdint>
#include <string>
#include <string_view>

#include <socketengine/image.hpp>

#include "protocol/legacy/base64.hpp"
#include "image/png.hpp"

namespace socketengine::test {

/// A width x height image in `order` whose samples depend on position,
/// channel and `seed`.
inline image pattern_image(std::uint32_t width, std::uint32_t height, pixel_order order,
                           unsigned seed = 0) {
  image img(width, height, order);
  auto channels = static_cast<std::uint32_t>(img.channels());
  std::uint8_t* p = img.data();
  for (std::uint32_t y = 0; y < height; ++y)
    for (std::uint32_t x = 0; x < width; ++x)
      for (std::uint32_t c = 0; c < channels; ++c)
        *p++ = static_cast<std::uint8_t>((x * 3 + y * 5 + c * 80 + seed * 17 + (x * y) % 7) & 0xFF);
  return img;
}

/// A size and pixel order, the parameter of round-trip tests.
struct image_shape {
  std::uint32_t width;
  std::uint32_t height;
  pixel_order order;
};

/// Names a round-trip test after its shape: "641x479_bgr".
inline std::string shape_name(const image_shape& s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height) + "_" + std::string(to_string(s.order));
}

/// `img` as a PNG file (the engine's encoder, speed setting).
inline std::string png_of(const image& img) {
  std::string png;
  detail::png::encode(img, 1, png);
  return png;
}

/// `bytes` in base64.
inline std::string base64_of(std::string_view bytes) {
  std::string out(detail::legacy::base64::encoded_size(bytes.size()), '?');
  detail::legacy::base64::encode(
      {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, out.data());
  return out;
}

/// A valid 2x2 PNG whose header then claims `width` x `height`, with its
/// CRC fixed so that only the size is wrong.
inline std::string png_claiming(std::uint32_t width, std::uint32_t height) {
  auto png = png_of(pattern_image(2, 2, pixel_order::bgr));
  auto put_be32 = [&](std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) png[at + i] = static_cast<char>(v >> (24 - 8 * i));
  };
  put_be32(16, width);
  put_be32(20, height);
  // CRC-32 of the chunk type and data (ISO 3309, as PNG uses it), bit by bit.
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 12; i < 29; ++i) {
    crc ^= static_cast<std::uint8_t>(png[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  put_be32(29, crc ^ 0xFFFFFFFFu);
  return png;
}

} // namespace socketengine::test
