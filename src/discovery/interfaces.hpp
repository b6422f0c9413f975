#pragma once
// The machine's network interfaces and their addresses, as discovery needs
// them: which interfaces to join the group on and send queries from, and
// which addresses a hub may give in an answer (only those of the interface
// a query came in on).

#include <netinet/in.h>

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace socketengine::detail::discovery {

struct interface_info {
  std::string name;
  unsigned index = 0;
  bool up = false;
  bool multicast = false; // IFF_MULTICAST: the group can be joined there
  std::vector<in_addr> ipv4;
  std::vector<in6_addr> ipv6; // without link-local ones, which need a scope to be dialled
};

/// Every interface with at least one address (getifaddrs).
/// Errors (out of memory, no netlink) go to `ec`, with an empty result.
[[nodiscard]] std::vector<interface_info> list_interfaces(std::error_code& ec);

/// Whether the interface `name` is among `only`; every one is when `only`
/// is empty (discovery_options::interfaces, discover_options::interfaces).
[[nodiscard]] bool chosen(const std::vector<std::string>& only, std::string_view name);

/// Interfaces queries go out on and a responder joins the group on: up,
/// multicast-capable, with an IPv4 address, and chosen().
[[nodiscard]] std::vector<interface_info>
multicast_interfaces(const std::vector<interface_info>& all, const std::vector<std::string>& only);

/// `text` as an IPv4 multicast group address; nullopt if it is not one.
[[nodiscard]] std::optional<in_addr> multicast_group(const std::string& text);

[[nodiscard]] std::string to_text(const in_addr& a);
[[nodiscard]] std::string to_text(const in6_addr& a);

} // namespace socketengine::detail::discovery
