#include "discovery/interfaces.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace socketengine::detail::discovery {

std::vector<interface_info> list_interfaces(std::error_code& ec) {
  ec.clear();
  ifaddrs* head = nullptr;
  if (getifaddrs(&head) != 0) {
    ec.assign(errno, std::system_category());
    return {};
  }
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owned(head, freeifaddrs);
  std::vector<interface_info> out;
  for (auto* a = head; a; a = a->ifa_next) {
    if (!a->ifa_addr || !a->ifa_name) continue;
    auto family = a->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const interface_info& i) { return i.name == a->ifa_name; });
    if (it == out.end()) {
      interface_info info;
      info.name = a->ifa_name;
      info.index = if_nametoindex(a->ifa_name);
      if (info.index == 0) continue; // gone meanwhile
      info.up = (a->ifa_flags & IFF_UP) != 0 && (a->ifa_flags & IFF_RUNNING) != 0;
      info.multicast = (a->ifa_flags & IFF_MULTICAST) != 0;
      out.push_back(std::move(info));
      it = std::prev(out.end());
    }
    if (family == AF_INET) {
      it->ipv4.push_back(reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr);
    } else {
      const auto& a6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      if (!IN6_IS_ADDR_LINKLOCAL(&a6)) it->ipv6.push_back(a6);
    }
  }
  return out;
}

bool chosen(const std::vector<std::string>& only, std::string_view name) {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}

std::vector<interface_info> multicast_interfaces(const std::vector<interface_info>& all,
                                                 const std::vector<std::string>& only) {
  std::vector<interface_info> out;
  for (const auto& i : all)
    if (i.up && i.multicast && !i.ipv4.empty() && chosen(only, i.name)) out.push_back(i);
  return out;
}

std::optional<in_addr> multicast_group(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1 || !IN_MULTICAST(ntohl(a.s_addr)))
    return std::nullopt;
  return a;
}

std::string to_text(const in_addr& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string to_text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

} // namespace socketengine::detail::discovery
