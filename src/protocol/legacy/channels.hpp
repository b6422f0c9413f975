#pragma once
// The reserved channels of the socket.engine 0.3 protocol
// (docs/legacy-protocol.md), and the one the native protocol adds for its
// negotiation (docs/native-protocol.md).

#include <string_view>

namespace socketengine::detail::legacy::channels {

inline constexpr std::string_view name_conn = "__name_conn";
inline constexpr std::string_view image = "__image";
inline constexpr std::string_view ack = "__ack";
inline constexpr std::string_view status = "__status";
inline constexpr std::string_view closing = "__closing";
/// Images between a host and its clients (no acknowledgements).
inline constexpr std::string_view plain_image = "image";
/// The native protocol's offer, switch and bytes hint.
inline constexpr std::string_view native = "__native";

/// Channels a peer may always store on, past limits::max_channels: a peer
/// at the limit can still name itself and say it is closing.
[[nodiscard]] constexpr bool exempt_from_limit(std::string_view channel) noexcept {
  return channel == name_conn || channel == status || channel == image || channel == ack;
}

} // namespace socketengine::detail::legacy::channels
