#pragma once
// Test images: deterministic, different in every sample position, and not
// trivially compressible, so a swapped channel, a shifted row or a lost
// byte shows.

#include <cstdint>

#include <socketengine/image.hpp>

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

} // namespace socketengine::test
