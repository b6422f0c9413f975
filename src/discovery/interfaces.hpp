#pragma once
// The machine's network interfaces and their addresses, as discovery needs
// them: which interfaces to join the group on and send queries from, and
// which addresses a hub may give in an answer (only those of the interface
// a query came in on).

#include <netinet/in.h>

#include <string>
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

/// Interfaces queries go out on and a responder joins the group on: up,
/// multicast-capable, with an IPv4 address, and named in `only` unless it
/// is empty.
[[nodiscard]] std::vector<interface_info>
multicast_interfaces(const std::vector<interface_info>& all, const std::vector<std::string>& only);

[[nodiscard]] std::string to_text(const in_addr& a);
[[nodiscard]] std::string to_text(const in6_addr& a);

} // namespace socketengine::detail::discovery
