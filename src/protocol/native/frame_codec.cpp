#include "protocol/native/frame_codec.hpp"

#include <stdexcept>

#include <socketengine/error.hpp>

#include "image/jpeg.hpp"
#include "image/png.hpp"
#include "protocol/legacy/line_codec.hpp"

namespace socketengine::detail::native {

namespace {

void put_u16(char* p, std::size_t v) noexcept {
  p[0] = static_cast<char>(v & 0xFF);
  p[1] = static_cast<char>((v >> 8) & 0xFF);
}

void put_u32(char* p, std::size_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint16_t load_u16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

// Writes a header with a size of 0 and returns where it starts; finish()
// fills the size once the payload is in. Payloads such as JSON text and
// encoded images are written straight into `out`, so their length is
// known only afterwards.
std::size_t begin_frame(std::string& out, frame_kind kind, std::string_view channel) {
  if (channel.size() > max_channel)
    throw std::invalid_argument("socketengine: channel name longer than 65535 bytes");
  std::size_t at = out.size();
  out.resize(at + header_size);
  char* h = out.data() + at;
  h[4] = static_cast<char>(kind);
  h[5] = 0;
  put_u16(h + 6, channel.size());
  out += channel;
  return at;
}

void finish_frame(std::string& out, std::size_t at) {
  std::size_t size = out.size() - at - size_field;
  if (size > 0xFFFFFFFFu) {
    out.resize(at);
    throw std::length_error("socketengine: a native frame is limited to 4 GiB");
  }
  put_u32(out.data() + at, size);
}

void put_image_header(std::string& out, const image& img, wire_encoding encoding) {
  std::size_t at = out.size();
  out.resize(at + image_header_size);
  char* h = out.data() + at;
  put_u32(h, img.width());
  put_u32(h + 4, img.height());
  h[8] = static_cast<char>(img.order());
  h[9] = static_cast<char>(encoding);
  put_u16(h + 10, 0);
}

} // namespace

void append_json(std::string& out, std::string_view channel, const value& v) {
  std::size_t at = begin_frame(out, frame_kind::json, channel);
  try {
    legacy::append_value(out, v);
  } catch (...) {
    out.resize(at);
    throw;
  }
  finish_frame(out, at);
}

void append_bytes(std::string& out, std::string_view channel,
                  std::span<const std::uint8_t> bytes) {
  std::size_t at = begin_frame(out, frame_kind::bytes, channel);
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  finish_frame(out, at);
}

void append_value(std::string& out, std::string_view channel, const value& v) {
  if (v.is_binary())
    append_bytes(out, channel, v.get_binary());
  else
    append_json(out, channel, v);
}

void append_control(std::string& out, control_code code) {
  std::size_t at = begin_frame(out, frame_kind::control, {});
  out += static_cast<char>(code);
  finish_frame(out, at);
}

void append_ack(std::string& out, std::uint32_t count) {
  std::size_t at = begin_frame(out, frame_kind::control, {});
  out += static_cast<char>(control_code::image_ack);
  char n[4];
  put_u32(n, count);
  out.append(n, 4);
  finish_frame(out, at);
}

std::shared_ptr<const std::string> encode_image(const image& img, image_encoding encoding,
                                                int png_level, int jpeg_quality) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  auto out = std::make_shared<std::string>();
  std::size_t at = begin_frame(*out, frame_kind::image, {});
  switch (encoding) {
  case image_encoding::raw:
    // reserve + append copies the pixels once; resize would first fill
    // the megabyte with zeros.
    out->reserve(at + header_size + image_header_size + img.size_bytes());
    put_image_header(*out, img, wire_encoding::raw);
    out->append(reinterpret_cast<const char*>(img.data()), img.size_bytes());
    break;
  case image_encoding::png:
    put_image_header(*out, img, wire_encoding::png);
    png::encode(img, png_level, *out);
    break;
  case image_encoding::jpeg:
    put_image_header(*out, img, wire_encoding::jpeg);
    jpeg::encode(img, jpeg_quality, *out);
    break;
  }
  finish_frame(*out, at);
  return out;
}

std::string raw_image_head(const image& img) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  std::string out;
  begin_frame(out, frame_kind::image, {});
  put_image_header(out, img, wire_encoding::raw);
  std::size_t size = out.size() - size_field + img.size_bytes();
  if (size > 0xFFFFFFFFu) throw std::length_error("socketengine: a native frame is limited to 4 GiB");
  put_u32(out.data(), size);
  return out;
}

void append_png_image(std::string& out, const image& img, std::span<const std::uint8_t> png) {
  std::size_t at = begin_frame(out, frame_kind::image, {});
  out.reserve(out.size() + image_header_size + png.size());
  put_image_header(out, img, wire_encoding::png);
  out.append(reinterpret_cast<const char*>(png.data()), png.size());
  finish_frame(out, at);
}

std::optional<frame> parse_frame(std::span<const std::uint8_t> body,
                                 std::shared_ptr<const void> owner, std::string& detail) {
  constexpr std::size_t fixed = header_size - size_field;
  if (body.size() < fixed) {
    detail = "frame of " + std::to_string(body.size()) + " bytes is shorter than its header";
    return std::nullopt;
  }
  auto kind = body[0];
  if (kind < 1 || kind > 4) {
    detail = "unknown frame kind " + std::to_string(kind);
    return std::nullopt;
  }
  if (body[1] != 0) {
    detail = "frame flags " + std::to_string(body[1]) + " are not 0";
    return std::nullopt;
  }
  std::size_t channel_size = load_u16(body.data() + 2);
  if (channel_size > body.size() - fixed) {
    detail = "channel of " + std::to_string(channel_size) + " bytes runs past the frame";
    return std::nullopt;
  }
  frame f{static_cast<frame_kind>(kind),
          {reinterpret_cast<const char*>(body.data() + fixed), channel_size},
          body.subspan(fixed + channel_size),
          std::move(owner)};
  if (f.kind == frame_kind::control && (channel_size != 0 || f.payload.empty())) {
    detail = "control frame with a channel or without a code";
    return std::nullopt;
  }
  return f;
}

std::optional<image> decode_image(const frame& f, std::uint64_t max_pixels, std::error_code& ec,
                                  std::string& detail) {
  auto p = f.payload;
  if (p.size() < image_header_size) {
    ec = errc::invalid_frame;
    detail = "image frame shorter than its image header";
    return std::nullopt;
  }
  std::uint32_t width = load_u32(p.data());
  std::uint32_t height = load_u32(p.data() + 4);
  auto order_byte = p[8];
  auto encoding = p[9];
  auto data = p.subspan(image_header_size);
  if (order_byte > static_cast<std::uint8_t>(pixel_order::rgba) || encoding > 2 ||
      load_u16(p.data() + 10) != 0) {
    ec = errc::invalid_frame;
    detail = "image header with pixel order " + std::to_string(order_byte) + ", encoding " +
             std::to_string(encoding);
    return std::nullopt;
  }
  auto order = static_cast<pixel_order>(order_byte);
  switch (static_cast<wire_encoding>(encoding)) {
  case wire_encoding::raw: {
    if (width == 0 || height == 0) {
      ec = errc::invalid_image;
      detail = "raw image of " + std::to_string(width) + "x" + std::to_string(height);
      return std::nullopt;
    }
    if (std::uint64_t{width} * height > max_pixels) {
      ec = errc::image_too_large;
      detail = "raw image of " + std::to_string(width) + "x" + std::to_string(height) +
               " is over the limit of " + std::to_string(max_pixels) + " pixels";
      return std::nullopt;
    }
    std::uint64_t expected = std::uint64_t{width} * height * channels_of(order);
    if (data.size() != expected) {
      ec = errc::invalid_image;
      detail = "raw image of " + std::to_string(width) + "x" + std::to_string(height) + " " +
               std::string(to_string(order)) + " has " + std::to_string(data.size()) +
               " bytes of pixels, not " + std::to_string(expected);
      return std::nullopt;
    }
    if (f.owner)
      // The frame's buffer becomes the image's: the pixels were read from
      // the socket straight into place.
      return image::wrap(width, height, order, const_cast<std::uint8_t*>(data.data()), f.owner);
    return image(width, height, order, data);
  }
  case wire_encoding::png: return png::decode(data, max_pixels, ec, detail);
  case wire_encoding::jpeg: return jpeg::decode(data, max_pixels, ec, detail);
  }
  return std::nullopt;
}

} // namespace socketengine::detail::native
