#pragma once
/// \file image.hpp
/// An 8-bit image with contiguous rows: what `write_image` sends and
/// `get_image` returns.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace socketengine {

/// The order of the samples in a pixel. It fixes the channel count: gray has
/// 1, bgr and rgb 3, bgra and rgba 4.
enum class pixel_order : std::uint8_t {
  gray, ///< one luminance sample
  bgr,  ///< blue, green, red: OpenCV's order, and the default for 3 channels
  rgb,  ///< red, green, blue
  bgra, ///< blue, green, red, alpha: OpenCV's order for 4 channels
  rgba  ///< red, green, blue, alpha
};

/// The number of samples per pixel in `order` (1, 3 or 4).
constexpr int channels_of(pixel_order order) noexcept {
  switch (order) {
  case pixel_order::gray: return 1;
  case pixel_order::bgr:
  case pixel_order::rgb: return 3;
  case pixel_order::bgra:
  case pixel_order::rgba: return 4;
  }
  return 0;
}

/// "gray", "bgr", "rgb", "bgra" or "rgba".
constexpr std::string_view to_string(pixel_order order) noexcept {
  switch (order) {
  case pixel_order::gray: return "gray";
  case pixel_order::bgr: return "bgr";
  case pixel_order::rgb: return "rgb";
  case pixel_order::bgra: return "bgra";
  case pixel_order::rgba: return "rgba";
  }
  return "unknown";
}

/// An image of `width` x `height` pixels, one byte per sample, rows stored
/// one after the other with no padding (row `y` starts at
/// `data() + y * row_bytes()`).
///
/// Copies share the pixels, as `cv::Mat` copies do: copying or moving an
/// image never copies pixel data, and a write through one copy shows in all.
/// `clone()` makes an independent copy. Images the engine hands out
/// (`get_image`, image callbacks) are shared with the connection's store and
/// with other readers: read them, or clone() before writing.
///
/// Thread safety: distinct image objects may be used from different threads
/// even when they share pixels, as long as nobody writes the pixels.
class image {
public:
  /// An empty image: 0 x 0, no pixels.
  image() noexcept = default;

  /// A new image of the given size, all samples zero.
  /// \throws std::invalid_argument if a dimension is 0 or the size overflows;
  ///         std::bad_alloc.
  image(std::uint32_t width, std::uint32_t height, pixel_order order);

  /// A new image holding a copy of `pixels`, which must be exactly
  /// width * height * channels_of(order) bytes, rows contiguous.
  /// \throws std::invalid_argument if the size does not match; std::bad_alloc.
  image(std::uint32_t width, std::uint32_t height, pixel_order order,
        std::span<const std::uint8_t> pixels);

  /// Wraps pixels owned by someone else without copying them: `owner` is
  /// kept alive as long as any copy of the image, and `pixels` must stay
  /// valid and contiguous that long (this is how a `cv::Mat` is wrapped, see
  /// socketengine/opencv.hpp).
  /// \throws std::invalid_argument if `pixels` is null or a dimension is 0.
  static image wrap(std::uint32_t width, std::uint32_t height, pixel_order order,
                    std::uint8_t* pixels, std::shared_ptr<const void> owner);

  /// A deep copy with pixels of its own.
  [[nodiscard]] image clone() const;

  [[nodiscard]] std::uint32_t width() const noexcept { return width_; }
  [[nodiscard]] std::uint32_t height() const noexcept { return height_; }
  [[nodiscard]] pixel_order order() const noexcept { return order_; }
  [[nodiscard]] int channels() const noexcept { return channels_of(order_); }
  /// Bytes per row: width * channels.
  [[nodiscard]] std::size_t row_bytes() const noexcept {
    return std::size_t{width_} * static_cast<std::size_t>(channels());
  }
  /// Bytes of pixel data: row_bytes * height.
  [[nodiscard]] std::size_t size_bytes() const noexcept { return row_bytes() * height_; }
  /// True for the default-constructed image.
  [[nodiscard]] bool empty() const noexcept { return data_ == nullptr; }

  [[nodiscard]] std::uint8_t* data() noexcept { return data_; }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return data_; }
  [[nodiscard]] std::span<std::uint8_t> pixels() noexcept { return {data_, size_bytes()}; }
  [[nodiscard]] std::span<const std::uint8_t> pixels() const noexcept {
    return {data_, size_bytes()};
  }

  /// How many image objects share these pixels, this one included (plus
  /// anything else that shares the owner given to wrap(), such as other
  /// images wrapping the same cv::Mat); 0 for an empty image, or one wrapped
  /// without an owner. A frame written with share_pixels is held by the
  /// engine, and counts here, until the engine is done with it: a caller
  /// that reads 1 holds the only copy, and every read the engine made of
  /// the pixels happened before this call returned, so it may write them.
  /// Any thread.
  [[nodiscard]] long use_count() const noexcept;

  /// True if both images have the same size, order and pixel bytes.
  friend bool operator==(const image& a, const image& b) noexcept;

private:
  std::shared_ptr<const void> owner_;
  std::uint8_t* data_ = nullptr;
  std::uint32_t width_ = 0;
  std::uint32_t height_ = 0;
  pixel_order order_ = pixel_order::bgr;
};

/// The type of share_pixels.
struct share_pixels_t {
  explicit share_pixels_t() = default;
};

/// Passed to a write_image call (connection::write_image, the hub's, the
/// host's and the client's) to send an image without copying its pixels:
/// the engine keeps a copy of the image, which shares its pixels, and the
/// socket reads them from there. The caller must then leave the pixels
/// alone until the engine lets go (see connection::write_image).
inline constexpr share_pixels_t share_pixels{};

/// What `write_image` did with a frame (see connection::write_image for
/// when an image is in flight).
enum class image_status {
  sent,    ///< queued for sending now
  pending, ///< an image is in flight; this one goes when that one is done
           ///< (latest_frame_wins), replacing an older pending frame
  dropped  ///< an image is in flight and latest_frame_wins is off
};

} // namespace socketengine
