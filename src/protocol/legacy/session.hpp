#pragma once
// What a socket.engine 0.3 message means once decoded (docs/legacy-protocol.md):
// the reserved channels (`__name_conn`, `__image` and `__ack` between hubs,
// `image` between a host and its clients, `__status` / `__closing`), and the
// native protocol's negotiation lines on `__native` (the offer, the switch,
// the bytes hint). The legacy reader gives it every line; the native reader
// gives it every JSON frame, which is handled as the same line would be.
//
// A message is handled in two steps: prepare (the work in proportion to
// its size: parsing JSON, undoing an image's base64), which needs nothing
// but the settings and may run on any thread, and handle (what it means,
// in order with the messages around it), on the I/O thread.
//
// Threading: prepare_* on any thread; the rest on the I/O thread only, as
// its reader.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <socketengine/value.hpp>

#include "protocol/receiver.hpp"
#include "protocol/settings.hpp"

namespace socketengine::detail::legacy {

/// A message decoded as far as it can be without the session's state.
struct prepared {
  enum class kind {
    nothing,  ///< a blank line
    rejected, ///< bad input: error and detail say why
    message,  ///< channel and data
    image     ///< png, or error and detail if the image data is not base64
  };
  kind what = kind::nothing;
  std::string channel;
  /// The message's value; for an image between a host and its clients, its
  /// base64 text, which is also stored as an ordinary value on `image`.
  value data;
  std::vector<std::uint8_t> png;
  std::error_code error;
  std::string detail;
  std::size_t wire_bytes = 0;
};

class session {
public:
  /// `offered`: the native protocol version this side offered, 0 if none.
  /// `switched`: the input has already switched to frames, so a switch line
  /// is refused.
  session(const protocol::settings& s, int offered, bool switched)
      : settings_(s), offered_(offered), switched_(switched) {}

  /// The channel images travel on in this flavour: `__image` between hubs,
  /// `image` between a host and its clients.
  [[nodiscard]] std::string_view image_channel() const noexcept;

  /// Decodes one line, without its `\n`. Any thread; no-throw but
  /// std::bad_alloc.
  static prepared prepare_line(const protocol::settings& s, std::string_view line);

  /// Recognises an image in a message decoded from JSON (a native frame's)
  /// that took `wire_bytes` on the wire, and undoes its base64. Any
  /// thread; no-throw but std::bad_alloc.
  static prepared prepare_message(const protocol::settings& s, std::string&& channel,
                                  value&& data, std::size_t wire_bytes);

  /// Handles a prepared message. Returns true for a valid switch line:
  /// everything after it is frames.
  bool handle(protocol::receiver& to, prepared&& m);

  /// Both steps for one line, on the I/O thread.
  bool handle_line(protocol::receiver& to, std::string_view line) {
    return handle(to, prepare_line(settings_, line));
  }

private:
  /// An ordinary message, or one on a reserved channel that is not an image.
  bool handle_message(protocol::receiver& to, std::string& channel, value&& data,
                      std::size_t wire_bytes);
  /// A `__native` line: the peer's offer, its switch, or a bytes hint.
  bool handle_native(protocol::receiver& to, const value& data);
  /// Hands a prepared image on to be decoded (acknowledging it first
  /// between hubs), or reports why it cannot be.
  void handle_image(protocol::receiver& to, prepared&& m);

  const protocol::settings& settings_;
  const int offered_;
  const bool switched_;
  std::optional<std::string> bytes_hint_; // the next value on this channel is base64 bytes
};

} // namespace socketengine::detail::legacy
