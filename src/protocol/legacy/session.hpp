#pragma once
// What a socket.engine 0.3 message means once decoded (docs/legacy-protocol.md):
// the reserved channels (`__name_conn`, `__image` and `__ack` between hubs,
// `image` between a host and its clients, `__status` / `__closing`), and the
// native protocol's negotiation lines on `__native` (the offer, the switch,
// the bytes hint). The legacy reader gives it every line; the native reader
// gives it every JSON frame, which is handled as the same line would be.
//
// Threading: the I/O thread only, as its reader.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <socketengine/value.hpp>

#include "protocol/receiver.hpp"
#include "protocol/settings.hpp"

namespace socketengine::detail::legacy {

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

  /// Handles one line, without its `\n`. Returns true for a valid switch
  /// line: everything after it is frames.
  bool handle_line(protocol::receiver& to, std::string_view line);

  /// Handles a decoded message that took `wire_bytes` on the wire. Returns
  /// true for a valid switch line.
  bool handle_message(protocol::receiver& to, std::string& channel, value&& data,
                      std::size_t wire_bytes);

private:
  /// A `__native` line: the peer's offer, its switch, or a bytes hint.
  bool handle_native(protocol::receiver& to, const value& data);
  /// Decodes the base64 PNG of an image message and hands the image on
  /// (acknowledging it first between hubs), or reports why not.
  void receive_image(protocol::receiver& to, std::string_view base64);

  const protocol::settings& settings_;
  const int offered_;
  const bool switched_;
  std::optional<std::string> bytes_hint_; // the next value on this channel is base64 bytes
};

} // namespace socketengine::detail::legacy
