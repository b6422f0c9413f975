#pragma once
// The socket.engine 0.3 line format: one JSON object per line,
// {"type": <channel>, "data": <value>}, as described in
// docs/legacy-protocol.md.

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/value.hpp>

namespace socketengine::detail {

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

/// Appends `{"type":<channel>,"data":<v>}\n` to `out`. Non-ASCII text is
/// written as \u escapes, as Python's json.dumps does: the Python 0.3 reader
/// decodes each 256-byte read on its own, so a raw multi-byte character split
/// across two reads would kill its reader thread.
/// \throws std::system_error errc::invalid_utf8 if a string is not UTF-8.
void append_line(std::string& out, std::string_view channel, const value& v);

/// The reserved channels of the protocol.
namespace channels {
inline constexpr std::string_view name_conn = "__name_conn";
inline constexpr std::string_view image = "__image";
inline constexpr std::string_view ack = "__ack";
inline constexpr std::string_view status = "__status";
inline constexpr std::string_view closing = "__closing";
} // namespace channels

} // namespace socketengine::detail
