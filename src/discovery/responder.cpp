#include "discovery/responder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "discovery/interfaces.hpp"

namespace socketengine::detail::discovery {

namespace {

constexpr std::chrono::seconds rescan_interval{2};
// Answers per second, and the burst allowed: far above what any LAN of
// robots asks, far below what would matter as a flood.
constexpr double answers_per_second = 50;
// Datagrams read per turn of the I/O thread before it sees to the others.
constexpr int reads_per_turn = 32;

std::error_code last_error() { return {errno, std::system_category()}; }

// What of `info` the hub may give, listening at `bind_address`.
std::vector<std::string> addresses_on(const interface_info& info, const std::string& bind_address) {
  std::vector<std::string> out;
  in_addr v4{};
  in6_addr v6{};
  bool any4 = bind_address == "0.0.0.0" || bind_address.empty();
  bool any6 = bind_address == "::"; // dual stack: IPv4 too
  bool one4 = !any4 && inet_pton(AF_INET, bind_address.c_str(), &v4) == 1;
  bool one6 = !any6 && !one4 && inet_pton(AF_INET6, bind_address.c_str(), &v6) == 1;
  for (const auto& a : info.ipv4)
    if (any4 || any6 || (one4 && a.s_addr == v4.s_addr)) out.push_back(to_text(a));
  for (const auto& a : info.ipv6)
    if (any6 || (one6 && std::memcmp(&a, &v6, sizeof v6) == 0)) out.push_back(to_text(a));
  if (out.size() > max_addresses) out.resize(max_addresses);
  return out;
}

} // namespace

responder::responder(asio::io_context& io, responder_settings settings, report_fn report)
    : socket_(io), rescan_(io), settings_(std::move(settings)), report_(std::move(report)),
      tokens_(answers_per_second), refilled_(std::chrono::steady_clock::now()) {}

void responder::start() {
  const auto& o = settings_.options;
  auto fail = [&](const std::string& what) {
    auto ec = last_error();
    report_(ec, "discovery: " + what + ": " + ec.message() + "; this hub will not be found");
    std::error_code ignored;
    socket_.close(ignored);
  };
  auto group = multicast_group(o.group);
  if (!group) {
    report_(std::make_error_code(std::errc::invalid_argument),
            "discovery: group " + o.group + " is not an IPv4 multicast address");
    return;
  }
  group_ = *group;
  std::error_code ec;
  socket_.open(asio::ip::udp::v4(), ec);
  if (ec) {
    errno = ec.value();
    return fail("cannot open a UDP socket");
  }
  int fd = socket_.native_handle();
  int on = 1, off = 0;
  // Several hubs on one machine share the port: each gets every multicast
  // query (a unicast query reaches one of them).
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  // Which interface each query came in on, to answer with its addresses.
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0)
    return fail("cannot ask for packet information");
  // Only the groups this socket joined, not every group another socket of
  // the machine joined on the same port.
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(o.port);
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
    return fail("cannot listen on UDP port " + std::to_string(o.port));
  socket_.non_blocking(true, ec);
  join_interfaces();
  arm_rescan();
  wait_readable();
}

void responder::stop() {
  stopped_ = true;
  rescan_.cancel();
  std::error_code ignored;
  socket_.close(ignored);
}

void responder::join_interfaces() {
  std::error_code ec;
  auto all = list_interfaces(ec);
  if (ec) return; // tried again at the next rescan
  std::set<unsigned> present;
  for (const auto& i : multicast_interfaces(all, settings_.options.interfaces)) {
    present.insert(i.index);
    if (joined_.contains(i.index)) continue;
    ip_mreqn m{};
    m.imr_multiaddr = group_;
    m.imr_ifindex = static_cast<int>(i.index);
    if (setsockopt(socket_.native_handle(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0 ||
        errno == EADDRINUSE) {
      joined_.insert(i.index);
    } else if (join_reported_.insert(i.name).second) {
      auto err = last_error();
      report_(err, "discovery: cannot join group " + settings_.options.group + " on " + i.name +
                       ": " +
                       err.message() + "; queries from there go unanswered");
    }
  }
  // An interface that went away took its membership with it; if it comes
  // back, it has a new index and is joined again.
  std::erase_if(joined_, [&](unsigned index) { return !present.contains(index); });
}

void responder::arm_rescan() {
  rescan_.expires_after(rescan_interval);
  rescan_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec || self->stopped_) return;
    self->join_interfaces();
    self->arm_rescan();
  });
}

void responder::wait_readable() {
  socket_.async_wait(asio::ip::udp::socket::wait_read,
                     [self = shared_from_this()](std::error_code ec) {
                       if (ec || self->stopped_) return;
                       self->read_all();
                       self->wait_readable();
                     });
}

void responder::read_all() {
  std::array<char, max_datagram + 1> buf; // one more: a longer datagram shows as such
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in_pktinfo))> control;
  for (int n = 0; n < reads_per_turn; ++n) {
    sockaddr_in from{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    auto got = recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT);
    if (got < 0) return; // EAGAIN, or an error the next wait sees again
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) continue;
    unsigned ifindex = 0;
    for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        ifindex = static_cast<unsigned>(info.ipi_ifindex);
      }
    if (ifindex == 0 || from.sin_port == 0) continue;
    handle({buf.data(), static_cast<std::size_t>(got)}, from, ifindex);
  }
}

void responder::handle(std::string_view datagram, const sockaddr_in& from, unsigned ifindex) {
  // Past the bound, a query costs no parse and no interface listing
  // either: a flood must not take the I/O thread from the connections.
  if (!has_token()) return;
  auto q = parse_query(datagram);
  if (!q || (!q->name.empty() && q->name != settings_.about.name)) return;
  std::error_code ec;
  auto all = list_interfaces(ec);
  auto in = std::find_if(all.begin(), all.end(),
                         [&](const interface_info& i) { return i.index == ifindex; });
  if (in == all.end() || !chosen(settings_.options.interfaces, in->name)) return;
  answer a = settings_.about;
  a.addresses = addresses_on(*in, settings_.bind_address);
  if (a.addresses.empty()) return;
  tokens_ -= 1;
  auto text = encode(a);
  // Back out of the interface the query came in on, whatever the routes
  // say, so that the asker hears from the network it asked.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in_pktinfo))> control{};
  iovec iov{text.data(), text.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr_in*>(&from);
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  auto* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
  in_pktinfo info{};
  info.ipi_ifindex = static_cast<int>(ifindex);
  std::memcpy(CMSG_DATA(c), &info, sizeof info);
  // A full send buffer drops this answer: the asker asks again.
  (void)sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

bool responder::has_token() {
  auto now = std::chrono::steady_clock::now();
  std::chrono::duration<double> since = now - refilled_;
  refilled_ = now;
  tokens_ = std::min(answers_per_second, tokens_ + since.count() * answers_per_second);
  return tokens_ >= 1;
}

} // namespace socketengine::detail::discovery
