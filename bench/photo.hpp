#pragma once
// A synthetic camera frame for the image benchmark.
//
// PNG cost depends on the content: a flat or smooth image compresses to a
// few kilobytes and encodes in no time, random noise does not compress at
// all. Neither says anything about a camera. This frame is built like a
// landscape photograph (a sky gradient with drifting clouds and a sun glow,
// hills on a rough horizon, textured ground that gets finer towards the
// camera, a ball rolling across it) and carries sensor noise of a couple of
// levels, which is what keeps real photographs from compressing well: PNG
// makes about 470 KB of it at level 1 and 415 KB at level 6, where a real
// 640x480 photograph typically takes 300 to 600 KB. The content is a pure
// function of the frame index, so runs are repeatable and successive frames
// differ a little, as a video's do.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <socketengine/image.hpp>

namespace bench {

namespace photo_detail {

// A well-mixed hash of a lattice point: the random numbers behind both the
// noise textures and the sensor noise.
inline std::uint32_t hash(std::uint32_t x, std::uint32_t y, std::uint32_t seed) noexcept {
  std::uint32_t h = x * 0x8da6b343u ^ y * 0xd8163841u ^ seed * 0xcb1ab31fu;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

// Value noise in [0, 1): random values on an integer lattice, blended
// smoothly in between.
inline float value_noise(float x, float y, std::uint32_t seed) noexcept {
  const float fx = std::floor(x);
  const float fy = std::floor(y);
  const auto ix = static_cast<std::uint32_t>(static_cast<std::int32_t>(fx));
  const auto iy = static_cast<std::uint32_t>(static_cast<std::int32_t>(fy));
  const float tx = (x - fx) * (x - fx) * (3 - 2 * (x - fx));
  const float ty = (y - fy) * (y - fy) * (3 - 2 * (y - fy));
  auto at = [&](std::uint32_t dx, std::uint32_t dy) {
    return static_cast<float>(hash(ix + dx, iy + dy, seed) >> 8) * (1.0f / 16777216.0f);
  };
  const float top = at(0, 0) + (at(1, 0) - at(0, 0)) * tx;
  const float bottom = at(0, 1) + (at(1, 1) - at(0, 1)) * tx;
  return top + (bottom - top) * ty;
}

// Fractal noise in [0, 1): octaves of value noise, each twice as fine and
// half as strong as the one before, as natural surfaces look.
inline float fractal(float x, float y, int octaves, std::uint32_t seed) noexcept {
  float sum = 0, weight = 0.5f, total = 0;
  for (int i = 0; i < octaves; ++i, x *= 2, y *= 2, weight *= 0.5f) {
    sum += weight * value_noise(x, y, seed + static_cast<std::uint32_t>(i));
    total += weight;
  }
  return sum / total;
}

inline float smoothstep(float edge0, float edge1, float x) noexcept {
  const float t = std::clamp((x - edge0) / (edge1 - edge0), 0.0f, 1.0f);
  return t * t * (3 - 2 * t);
}

struct bgr {
  float b, g, r;
};

inline bgr mix(bgr a, bgr c, float t) noexcept {
  return {a.b + (c.b - a.b) * t, a.g + (c.g - a.g) * t, a.r + (c.r - a.r) * t};
}

} // namespace photo_detail

/// Frame `frame` of the synthetic landscape video, as an 8-bit BGR image.
/// Clouds drift, the ball rolls and the sensor noise changes from frame to
/// frame; the rest of the scene stays put, as under a camera on a tripod.
inline socketengine::image make_photo(std::uint32_t frame, std::uint32_t width = 640,
                                      std::uint32_t height = 480) {
  using namespace photo_detail;
  socketengine::image img(width, height, socketengine::pixel_order::bgr);
  const auto w = static_cast<float>(width);
  const auto h = static_cast<float>(height);
  const auto t = static_cast<float>(frame);

  const bgr sky_top{165, 95, 45}, sky_low{230, 205, 185}, cloud{245, 245, 240};
  const bgr grass{55, 135, 85}, earth{75, 105, 140}, haze{205, 190, 175};
  const bgr ball{40, 50, 200};
  const float sun_x = 0.78f * w, sun_y = 0.16f * h;
  const float ball_r = 0.05f * h;
  const float ball_x = std::fmod(0.1f * w + 4.0f * t, w);
  const float ball_y = 0.82f * h;

  // The skyline: rolling hills around the middle of the frame.
  std::vector<float> skyline(width);
  for (std::uint32_t col = 0; col < width; ++col) {
    const float hills = fractal(static_cast<float>(col) / 220, 0.5f, 4, 11) - 0.5f;
    skyline[col] = h * (0.45f + 0.12f * hills);
  }

  for (std::uint32_t row = 0; row < height; ++row) {
    std::uint8_t* out = img.data() + row * img.row_bytes();
    const auto y = static_cast<float>(row);
    for (std::uint32_t col = 0; col < width; ++col, out += 3) {
      const auto x = static_cast<float>(col);
      const float horizon = skyline[col];
      bgr c;
      if (y < horizon) {
        c = mix(sky_top, sky_low, std::pow(y / horizon, 0.7f));
        const float d2 = (x - sun_x) * (x - sun_x) + (y - sun_y) * (y - sun_y);
        c = mix(c, bgr{235, 250, 255}, std::exp(-d2 / (2 * 45.0f * 45.0f)));
        const float density = fractal((x + 1.5f * t) / 130, y / 55, 5, 23);
        const float shade = 0.75f + 0.25f * fractal((x + 1.5f * t) / 40, y / 20, 3, 31);
        c = mix(c, mix(haze, cloud, shade), 0.9f * smoothstep(0.45f, 0.72f, density));
      } else {
        // Depth 0 at the horizon, 1 at the bottom edge: texture grows
        // coarser and the haze thins towards the camera.
        const float depth = (y - horizon) / (h - horizon);
        const float scale = 2.0f + 14.0f * depth;
        const float soil = smoothstep(0.4f, 0.7f, fractal(x / 90, y / 30, 3, 41));
        const float texture = fractal(x / scale, y / (0.5f * scale), 6, 53);
        c = mix(grass, earth, soil);
        const float light = 0.55f + 0.8f * texture;
        c = {c.b * light, c.g * light, c.r * light};
        c = mix(c, haze, 0.6f * (1 - depth) * (1 - depth));
      }
      // The ball: shaded from the upper left, its edge blended over one
      // pixel as a lens would.
      const float dx = x - ball_x, dy = y - ball_y;
      const float r = std::sqrt(dx * dx + dy * dy);
      if (r < ball_r + 1) {
        const float lit = 1.1f - 0.6f * std::clamp((dx + dy) / (2 * ball_r) + 0.5f, 0.0f, 1.0f);
        const float cover = std::clamp(ball_r + 1 - r, 0.0f, 1.0f);
        c = mix(c, bgr{ball.b * lit, ball.g * lit, ball.r * lit}, cover);
      }
      // Sensor noise: a triangular spread of about +-2 levels per sample,
      // new in every frame.
      const std::uint32_t n = hash(col, row, 0x5eed + frame);
      auto noise = [n](int shift) {
        return static_cast<float>(static_cast<int>((n >> shift) & 15) +
                                  static_cast<int>((n >> (shift + 4)) & 15) - 15) /
               6.0f;
      };
      out[0] = static_cast<std::uint8_t>(std::clamp(std::lround(c.b + noise(0)), 0L, 255L));
      out[1] = static_cast<std::uint8_t>(std::clamp(std::lround(c.g + noise(8)), 0L, 255L));
      out[2] = static_cast<std::uint8_t>(std::clamp(std::lround(c.r + noise(16)), 0L, 255L));
    }
  }
  return img;
}

} // namespace bench
