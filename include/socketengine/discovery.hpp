#pragma once
/// \file discovery.hpp
/// Finding hubs on the local network: a hub with a name answers a small
/// UDP query (see discovery_options and docs/discovery.md); discover()
/// asks and lists who answered, hub::connect_by_name() dials one by name.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <socketengine/options.hpp>

namespace socketengine {

/// A hub that answered a query.
struct discovered_hub {
  /// The hub's name (hub_options::name).
  std::string name;
  /// 32 hex digits, new for each hub made: tells apart two hubs of one
  /// name, and one hub answering twice.
  std::string id;
  /// The native protocol version the hub offers; 0: it speaks only the
  /// socket.engine 0.3 protocol (hub_options::native off).
  int protocol = 0;
  /// The TCP port it listens on.
  std::uint16_t port = 0;
  /// Whether it requires TLS (tls_options) or a token (auth_options): a
  /// dial without them is refused.
  bool tls = false;
  bool token = false;
  /// Its numeric addresses on the network the query reached it by, and
  /// only those: IPv4, and IPv6 when it listens on "::". When it answered
  /// on several interfaces of this machine, the addresses of each.
  std::vector<std::string> addresses;
  /// The address its (first) answer came from.
  std::string from;
};

/// How discover() and hub::connect_by_name() ask.
struct discover_options {
  /// How long discover() collects answers; connect_by_name() waits this
  /// long at most for a first one. Default 500 ms.
  std::chrono::milliseconds timeout{500};
  /// Ask only for hubs of this name; empty: every hub.
  std::string name{};
  /// The multicast group and UDP port, as the hubs' discovery_options.
  std::string group = "239.255.83.69";
  std::uint16_t port = 7183;
  /// Send the query to the multicast group. false: ask only `peers`.
  /// Default true.
  bool multicast = true;
  /// Interfaces to send the multicast query out of, by name ("eth0");
  /// empty: every interface that is up, can multicast and has an IPv4
  /// address. The query's TTL is 1: it never leaves the local network.
  std::vector<std::string> interfaces{};
  /// Peers to ask directly, by unicast, where multicast does not reach
  /// (containers, routed networks): "HOST" or "HOST:PORT" (the discovery
  /// port; default `port`), a numeric address or a name resolved here. A
  /// name that does not resolve is skipped. They answer the same way.
  std::vector<std::string> peers{};
  /// An environment variable with more such peers, separated by commas or
  /// spaces, read at each call; empty: none. Default "SOCKETENGINE_PEERS".
  std::string peers_env = "SOCKETENGINE_PEERS";
  /// connect_by_name(): how long each candidate address is given to
  /// connect. Candidates are dialled in parallel; the first to connect
  /// wins and the others are dropped. Default 1 s.
  std::chrono::milliseconds attempt_timeout{1000};
};

/// Asks for hubs (see discover_options) and returns every one that
/// answered within the timeout, each once, sorted by name. Blocks for the
/// whole timeout. Any thread.
/// \throws std::invalid_argument for a group that is not an IPv4 multicast
///         address, a peer entry that is malformed, or `interfaces` naming
///         no interface that can send the query; std::system_error if the
///         UDP socket cannot be made.
[[nodiscard]] std::vector<discovered_hub> discover(const discover_options& options = {});

/// As discover({.timeout = timeout}).
[[nodiscard]] std::vector<discovered_hub> discover(std::chrono::milliseconds timeout);

} // namespace socketengine
