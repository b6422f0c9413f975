#pragma once
// The socket.engine 0.3 line format: one JSON object per line,
// {"type": <channel>, "data": <value>}, as described in
// docs/legacy-protocol.md.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine::detail::legacy {

struct decoded_message {
  std::string channel;
  value data;
};

/// Result of decode_line: a message, nothing (a blank line), or an error with
/// a short human-readable detail.
struct decode_result {
  enum class status { message, blank, error } what = status::blank;
  decoded_message message;
  std::error_code error;
  std::string detail;
};

/// Checks that `line` is valid UTF-8 and nests no deeper than `max_depth`,
/// in one pass. Returns errc::invalid_utf8 or errc::too_deep, or no error.
/// JSON syntax is left to the parser; this only tracks strings well enough
/// to know which brackets count.
std::error_code prescan_line(std::string_view line, std::size_t max_depth,
                             std::string* detail = nullptr);

/// Decodes one line (without its `\n`; a trailing `\r` is ignored). Accepts
/// any JSON spacing and key order; extra keys are ignored.
decode_result decode_line(std::string_view line, std::size_t max_depth);

/// Decodes one JSON value (a native frame's payload) with the checks of
/// decode_line: UTF-8, depth, syntax. Returns errc::invalid_utf8,
/// errc::too_deep or errc::invalid_json with `detail` set, or no error.
std::error_code decode_value(std::string_view text, std::size_t max_depth, value& out,
                             std::string& detail);

/// Appends `v` as JSON text, as it appears in append_line (ASCII only; a
/// top-level bytes value as a base64 string).
/// \throws std::system_error errc::invalid_utf8 if a string is not UTF-8.
void append_value(std::string& out, const value& v);

/// Appends `{"type":<channel>,"data":<v>}\n` to `out`. Non-ASCII text is
/// written as \u escapes, as Python's json.dumps does: the Python 0.3 reader
/// decodes each 256-byte read on its own, so a raw multi-byte character split
/// across two reads would kill its reader thread.
/// \throws std::system_error errc::invalid_utf8 if a string is not UTF-8.
void append_line(std::string& out, std::string_view channel, const value& v);

/// Appends an image line, `{"type":<channel>,"data":"<base64 PNG>"}\n`, to
/// `out`: `__image` between hubs, `image` between a host and its clients.
/// \throws as png::encode.
void append_image_line(std::string& out, std::string_view channel, const image& img,
                       int png_level);

/// As above, with the PNG already encoded (one encoding serves legacy and
/// native peers).
void append_image_line(std::string& out, std::string_view channel,
                       std::span<const std::uint8_t> png);

/// If `line` is `{"type": <channel>, "data": "<text>"}` (any JSON spacing,
/// "type" first, <text> without a backslash), returns <text> as it sits in
/// the line; empty otherwise. This lets a megabyte of base64 skip the JSON
/// parser and its copies. <text> is not checked further: the base64 decoder
/// rejects anything outside its alphabet. Lines it does not recognise take
/// the general path through decode_line.
std::optional<std::string_view> match_image_line(std::string_view line, std::string_view channel);

/// Decodes the base64 PNG of an image message. On failure returns empty
/// with `ec` set to errc::invalid_base64, errc::invalid_image or
/// errc::image_too_large and `detail` saying why.
std::optional<image> decode_image_data(std::string_view base64, std::uint64_t max_pixels,
                                       std::error_code& ec, std::string& detail);

/// The two halves of decode_image_data: the base64 of an image message to
/// the PNG it holds (empty, with errc::invalid_base64, if it is not
/// base64), and that PNG to an image.
std::optional<std::vector<std::uint8_t>> decode_image_base64(std::string_view base64,
                                                             std::error_code& ec,
                                                             std::string& detail);
std::optional<image> decode_image_png(std::span<const std::uint8_t> png, std::uint64_t max_pixels,
                                      std::error_code& ec, std::string& detail);

} // namespace socketengine::detail::legacy
