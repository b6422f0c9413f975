#pragma once
// The native protocol's frames (docs/native-protocol.md): what two
// socketengine peers send each other once both have switched.
//
//   offset  size  field
//   0       4     size: bytes after this field, little-endian
//   4       1     kind (frame_kind)
//   5       1     flags, 0
//   6       2     channel length, little-endian
//   8       n     channel (UTF-8)
//   8+n     ...   payload, size - 4 - n bytes
//
// Every number is little-endian whatever the host, written byte by byte.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

namespace socketengine::detail::native {

/// The protocol version this engine offers and speaks.
inline constexpr int version = 1;

/// Bytes before the channel: size, kind, flags, channel length.
inline constexpr std::size_t header_size = 8;
/// Bytes of the size field, which the frame's size does not count.
inline constexpr std::size_t size_field = 4;
/// Longest channel name a frame can carry.
inline constexpr std::size_t max_channel = 0xFFFF;
/// Bytes of an image payload's own header: width, height, order, encoding.
inline constexpr std::size_t image_header_size = 12;

enum class frame_kind : std::uint8_t {
  json = 1,   ///< payload: one JSON value as UTF-8 text
  bytes = 2,  ///< payload: bytes, stored as a binary value
  image = 3,  ///< payload: an image header, then raw, PNG or JPEG data
  control = 4 ///< empty channel; payload: one control code
};

enum class control_code : std::uint8_t {
  image_ack = 1, ///< one image was received: the sender may have one more in flight
  closing = 2,   ///< the sender is closing the connection (legacy `__status`)
  ping = 3,      ///< a heartbeat: answer with pong
  pong = 4       ///< the answer to a ping
};

/// How an image payload's data is encoded, on the wire.
enum class wire_encoding : std::uint8_t { raw = 0, png = 1, jpeg = 2 };

/// Appends a JSON frame of `v` on `channel`.
/// \throws std::system_error errc::invalid_utf8 if a string is not UTF-8;
///         std::invalid_argument if the channel is longer than max_channel.
void append_json(std::string& out, std::string_view channel, const value& v);

/// Appends a bytes frame.
/// \throws std::invalid_argument if the channel is longer than max_channel.
void append_bytes(std::string& out, std::string_view channel, std::span<const std::uint8_t> bytes);

/// Appends the frame for `v`: a bytes frame for a binary value, a JSON
/// frame otherwise. \throws as append_json.
void append_value(std::string& out, std::string_view channel, const value& v);

/// Appends a control frame without arguments (closing, ping, pong).
void append_control(std::string& out, control_code code);

/// Appends an image acknowledgement for `count` images.
void append_ack(std::string& out, std::uint32_t count);

/// An image frame, encoded once and shared by every connection it goes to:
/// the frame header and image header, then the data (the encoded file, or
/// for raw the pixels, copied once so that the caller may reuse its image).
/// \throws std::invalid_argument for an empty image; as the encoders;
///         std::bad_alloc.
std::shared_ptr<const std::string> encode_image(const image& img, image_encoding encoding,
                                                int png_level, int jpeg_quality);

/// The start of a raw image frame whose pixels are sent from `img` as they
/// are, without a copy: the frame header and image header, the frame's
/// size counting the pixels that are to follow.
/// \throws std::invalid_argument for an empty image; std::length_error for
///         a frame past the 4 GiB a size field can say; std::bad_alloc.
std::string raw_image_head(const image& img);

/// Appends an image frame whose data is an already encoded PNG (as it is for
/// legacy peers: one encoding serves both).
void append_png_image(std::string& out, const image& img, std::span<const std::uint8_t> png);

/// A frame as the reader hands it out. The views are valid during the
/// callback only, unless `owner` is set: then they stay valid as long as
/// a copy of `owner` does (a large frame read into a buffer of its own).
struct frame {
  frame_kind kind;
  std::string_view channel;
  std::span<const std::uint8_t> payload;
  std::shared_ptr<const void> owner;
};

/// Splits a frame body (the bytes after the size field) into a frame.
/// Returns empty, with `detail` saying why, if its header is malformed:
/// nonzero flags, an unknown kind, a channel past the end, or a control
/// frame with a channel.
std::optional<frame> parse_frame(std::span<const std::uint8_t> body,
                                 std::shared_ptr<const void> owner, std::string& detail);

/// Decodes an image frame's payload. Raw pixels are used in place when the
/// frame owns its buffer (no copy). On failure returns empty with `ec`
/// errc::invalid_frame, errc::invalid_image or errc::image_too_large and
/// `detail` saying why.
std::optional<image> decode_image(const frame& f, std::uint64_t max_pixels, std::error_code& ec,
                                  std::string& detail);

/// Reads a little-endian 32-bit number.
constexpr std::uint32_t load_u32(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

} // namespace socketengine::detail::native
