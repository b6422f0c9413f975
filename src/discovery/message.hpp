#pragma once
// The two datagrams of LAN discovery (docs/discovery.md): a query, sent to
// the multicast group or to a listed peer, and the answer a hub sends back
// to whoever asked. Both are small JSON objects, so that a packet capture
// or `socat` reads them, and so that a later version can add fields that
// this one ignores.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketengine::detail::discovery {

/// This version of the datagrams. A datagram of a later version is read
/// for the fields this one knows.
inline constexpr int version = 1;
/// The largest datagram either side sends or reads: one that fits an
/// Ethernet frame without fragments. Longer ones are ignored.
inline constexpr std::size_t max_datagram = 1400;
/// Longest hub name, in bytes of UTF-8.
inline constexpr std::size_t max_name_bytes = 255;
/// Most addresses an answer carries.
inline constexpr std::size_t max_addresses = 16;

struct query {
  std::string name; // only a hub of this name answers; empty: every hub
};

struct answer {
  std::string name;
  std::string id;        // 32 lowercase hex digits, new for each hub made
  int protocol = 0;      // native protocol version offered; 0: legacy only
  std::uint16_t port = 0;
  bool tls = false;
  bool token = false;
  std::vector<std::string> addresses; // numeric IPv4 or IPv6
};

[[nodiscard]] std::string encode(const query& q);
[[nodiscard]] std::string encode(const answer& a);

/// The query in `datagram`; nullopt for anything else (not JSON, another
/// kind of datagram, a field of the wrong type, too long). Never throws
/// for any input.
[[nodiscard]] std::optional<query> parse_query(std::string_view datagram) noexcept;
/// As parse_query, for an answer. Addresses that are not numeric IP
/// addresses make the answer invalid, as does a port of 0.
[[nodiscard]] std::optional<answer> parse_answer(std::string_view datagram) noexcept;

/// A new hub id: 128 random bits as 32 lowercase hex digits.
[[nodiscard]] std::string make_id();

/// Whether `name` may be a hub's name: 1 to max_name_bytes bytes of UTF-8
/// without control characters.
[[nodiscard]] bool valid_name(std::string_view name) noexcept;

} // namespace socketengine::detail::discovery
