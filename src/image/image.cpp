#include <socketengine/image.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace socketengine {

namespace {
std::size_t checked_size(std::uint32_t width, std::uint32_t height, pixel_order order) {
  if (width == 0 || height == 0)
    throw std::invalid_argument("socketengine: image dimensions must not be 0");
  // Divided rather than multiplied out, so the check itself cannot wrap.
  const auto channels = static_cast<std::size_t>(channels_of(order));
  if (std::size_t{width} > std::numeric_limits<std::size_t>::max() / 2 / height / channels)
    throw std::invalid_argument("socketengine: image too large");
  return std::size_t{width} * height * channels;
}
} // namespace

image::image(std::uint32_t width, std::uint32_t height, pixel_order order)
    : width_(width), height_(height), order_(order) {
  auto buffer = std::make_shared<std::uint8_t[]>(checked_size(width, height, order));
  data_ = buffer.get();
  owner_ = std::move(buffer);
}

image::image(std::uint32_t width, std::uint32_t height, pixel_order order,
             std::span<const std::uint8_t> pixels)
    : width_(width), height_(height), order_(order) {
  auto size = checked_size(width, height, order);
  if (pixels.size() != size)
    throw std::invalid_argument("socketengine: image needs " + std::to_string(size) +
                                " bytes of pixels, got " + std::to_string(pixels.size()));
  auto buffer = std::make_shared_for_overwrite<std::uint8_t[]>(size);
  std::memcpy(buffer.get(), pixels.data(), size);
  data_ = buffer.get();
  owner_ = std::move(buffer);
}

image image::wrap(std::uint32_t width, std::uint32_t height, pixel_order order,
                  std::uint8_t* pixels, std::shared_ptr<const void> owner) {
  checked_size(width, height, order);
  if (pixels == nullptr) throw std::invalid_argument("socketengine: image pixels are null");
  image img;
  img.owner_ = std::move(owner);
  img.data_ = pixels;
  img.width_ = width;
  img.height_ = height;
  img.order_ = order;
  return img;
}

image image::clone() const {
  if (empty()) return {};
  return image(width_, height_, order_, pixels());
}

long image::use_count() const noexcept {
  const long n = owner_.use_count();
  // The count is read relaxed. The holder that let go last did so with a
  // release (shared_ptr's decrement): this fence makes its reads of the
  // pixels (a frame written from them) happen before the caller's writes.
  std::atomic_thread_fence(std::memory_order_acquire);
  return n;
}

bool operator==(const image& a, const image& b) noexcept {
  if (a.width_ != b.width_ || a.height_ != b.height_ || a.order_ != b.order_) return false;
  return a.data_ == b.data_ || std::equal(a.data_, a.data_ + a.size_bytes(), b.data_);
}

} // namespace socketengine
