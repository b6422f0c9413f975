#include "protocol/native/writer.hpp"

#include <algorithm>

#include "protocol/encoded.hpp"
#include "protocol/native/frame_codec.hpp"

namespace socketengine::detail::native {

void writer::append_value(std::string& out, std::string_view channel, const value& v) const {
  native::append_value(out, channel, v);
}

void writer::append_bytes(std::string& out, std::string_view channel,
                          std::span<const std::uint8_t> bytes) const {
  native::append_bytes(out, channel, bytes);
}

void writer::append_acks(std::string& out, std::uint32_t count) const {
  append_ack(out, count);
}

void writer::append_ping(std::string& out) const { append_control(out, control_code::ping); }

void writer::append_pong(std::string& out) const { append_control(out, control_code::pong); }

void writer::append_closing(std::string& out) const {
  if (settings_.hub) append_control(out, control_code::closing);
}

protocol::image_bytes writer::encode_image(protocol::encoded_image& img) const {
  const auto& options = img.options();
  if (img.encoding() == image_encoding::raw && img.shares_pixels())
    // The socket writes the pixels from the caller's image, which the frame
    // keeps: a megabyte frame is not copied on its way out.
    return {std::make_shared<const std::string>(raw_image_head(img.picture())), img.picture()};
  if (img.encoding() != image_encoding::png)
    return {native::encode_image(img.picture(), img.encoding(), options.png_compression,
                                 options.jpeg_quality),
            {}};
  const auto& png = img.png();
  auto frame = std::make_shared<std::string>();
  append_png_image(*frame, img.picture(),
                   {reinterpret_cast<const std::uint8_t*>(png.data()), png.size()});
  return {std::move(frame), {}};
}

std::size_t writer::image_window() const noexcept {
  return static_cast<std::size_t>(std::max(settings_.images.max_frames_in_flight, 1));
}

} // namespace socketengine::detail::native
