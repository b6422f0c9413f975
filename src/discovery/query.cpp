#include "discovery/query.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "discovery/interfaces.hpp"
#include "discovery/message.hpp"

namespace socketengine {

namespace detail::discovery {

namespace {

using clock_type = std::chrono::steady_clock;

// Bounds on what answers may make an asker hold: a network that answers
// with ever new ids or addresses (spoofed, say) costs at most this much.
constexpr std::size_t max_hubs = 256;
constexpr std::size_t max_addresses_per_hub = 64;
// Longer timeouts are cut to this: far beyond any use, and clear of
// overflow in the clock's arithmetic.
constexpr std::chrono::milliseconds longest_timeout = std::chrono::hours(24);

class udp_socket {
public:
  udp_socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    if (fd_ < 0)
      throw std::system_error(errno, std::system_category(),
                              "socketengine: discover: cannot open a UDP socket");
  }
  ~udp_socket() { ::close(fd_); }
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  [[nodiscard]] int fd() const noexcept { return fd_; }

private:
  int fd_;
};

std::vector<std::string> split_peers(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n') {
      if (!item.empty()) out.push_back(std::move(item));
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

// "HOST", "HOST:PORT", "[V6]:PORT" is not taken: answers go over IPv4.
std::pair<std::string, std::uint16_t> split_peer(const std::string& entry,
                                                 std::uint16_t default_port) {
  auto colon = entry.rfind(':');
  if (colon == std::string::npos) return {entry, default_port};
  auto port_text = std::string_view(entry).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (colon == 0 || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535)
    throw std::invalid_argument("socketengine: discover: peer \"" + entry +
                                "\" is not HOST or HOST:PORT");
  return {entry.substr(0, colon), static_cast<std::uint16_t>(port)};
}

std::vector<sockaddr_in> resolve_peers(const discover_options& o) {
  auto entries = o.peers;
  if (!o.peers_env.empty())
    if (const char* env = std::getenv(o.peers_env.c_str()))
      for (auto& e : split_peers(env)) entries.push_back(std::move(e));
  std::vector<sockaddr_in> out;
  for (const auto& entry : entries) {
    auto [host, port] = split_peer(entry, o.port);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) continue;
    for (auto* a = found; a; a = a->ai_next) {
      auto sa = *reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      sa.sin_port = htons(port);
      out.push_back(sa);
    }
    freeaddrinfo(found);
  }
  return out;
}

void send_to(int fd, const std::string& datagram, const sockaddr_in& to) {
  // A send that fails (no route, a full buffer) loses this one query; the
  // others, and the repeat, still go.
  (void)::sendto(fd, datagram.data(), datagram.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

void merge(std::vector<discovered_hub>& found, answer a, const sockaddr_in& from) {
  auto same = std::find_if(found.begin(), found.end(),
                           [&](const discovered_hub& h) { return h.id == a.id; });
  if (same != found.end()) {
    for (auto& address : a.addresses)
      if (same->addresses.size() < max_addresses_per_hub &&
          std::find(same->addresses.begin(), same->addresses.end(), address) ==
              same->addresses.end())
        same->addresses.push_back(std::move(address));
    return;
  }
  if (found.size() >= max_hubs) return;
  discovered_hub h;
  h.name = std::move(a.name);
  h.id = std::move(a.id);
  h.protocol = a.protocol;
  h.port = a.port;
  h.tls = a.tls;
  h.token = a.token;
  h.addresses = std::move(a.addresses);
  h.from = to_text(from.sin_addr);
  found.push_back(std::move(h));
}

} // namespace

std::vector<discovered_hub> ask(const discover_options& o, bool first) {
  auto group_address = multicast_group(o.group);
  if (o.multicast && !group_address)
    throw std::invalid_argument("socketengine: discover: group " + o.group +
                                " is not an IPv4 multicast address");
  if (!o.name.empty() && !valid_name(o.name))
    throw std::invalid_argument("socketengine: discover: a hub name is 1 to 255 bytes of UTF-8 "
                                "without control characters");
  auto peers = resolve_peers(o);
  std::vector<interface_info> out_on;
  if (o.multicast) {
    std::error_code ec;
    out_on = multicast_interfaces(list_interfaces(ec), o.interfaces);
    if (!o.interfaces.empty() && out_on.empty())
      throw std::invalid_argument("socketengine: discover: none of the interfaces named is up, "
                                  "can multicast and has an IPv4 address");
  }

  udp_socket sock;
  int fd = sock.fd();
  int ttl = 1, loop = 1;
  // TTL 1: the query stays on the link it is sent on. Loop: hubs of this
  // machine hear it too.
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
    throw std::system_error(errno, std::system_category(),
                            "socketengine: discover: cannot bind a UDP socket");

  auto datagram = encode(query{o.name});
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_port = htons(o.port);
  group.sin_addr = group_address.value_or(in_addr{}); // unused unless multicast
  auto send_all = [&] {
    for (const auto& i : out_on) {
      ip_mreqn via{};
      via.imr_ifindex = static_cast<int>(i.index);
      if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via) == 0)
        send_to(fd, datagram, group);
    }
    for (const auto& p : peers) send_to(fd, datagram, p);
  };

  const auto timeout = std::clamp(o.timeout, std::chrono::milliseconds(0), longest_timeout);
  auto start = clock_type::now();
  auto deadline = start + timeout;
  // UDP may lose a query: it goes again a third of the way in, as mDNS
  // repeats its own (answers to both are merged by id).
  auto repeat_at = timeout >= std::chrono::milliseconds(150) ? start + timeout / 3
                                                             : clock_type::time_point::max();
  send_all();
  std::vector<discovered_hub> found;
  std::array<char, max_datagram + 1> buf;
  for (;;) {
    auto now = clock_type::now();
    if (now >= repeat_at) {
      send_all();
      repeat_at = clock_type::time_point::max();
    }
    if (now >= deadline || (first && !found.empty())) break;
    auto until = std::min(deadline, repeat_at);
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
    if (ready < 0 && errno != EINTR)
      throw std::system_error(errno, std::system_category(), "socketengine: discover: poll");
    if (ready <= 0) continue;
    // Everything that has arrived: with `first`, answers that came in
    // together are all candidates. A stream of datagrams that never ends
    // still ends at the deadline.
    while (clock_type::now() < deadline) {
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      auto got = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                            &from_len);
      if (got < 0) break;
      auto a = parse_answer({buf.data(), static_cast<std::size_t>(got)});
      if (!a || (!o.name.empty() && a->name != o.name)) continue;
      merge(found, std::move(*a), from);
    }
  }
  std::sort(found.begin(), found.end(), [](const discovered_hub& a, const discovered_hub& b) {
    return a.name != b.name ? a.name < b.name : a.id < b.id;
  });
  return found;
}

} // namespace detail::discovery

std::vector<discovered_hub> discover(const discover_options& options) {
  return detail::discovery::ask(options, /*first=*/false);
}

std::vector<discovered_hub> discover(std::chrono::milliseconds timeout) {
  discover_options o;
  o.timeout = timeout;
  return discover(o);
}

} // namespace socketengine
