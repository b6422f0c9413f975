#pragma once
// A hub's side of LAN discovery: a UDP socket on the engine's I/O thread
// that answers queries (docs/discovery.md). It joins the multicast group
// on every interface that can take it (and on interfaces that come up
// later), and answers each query with the hub's addresses on the
// interface that query came in on, never another's: an address from
// another network would only make the asker wait on a dial that cannot
// work.

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <system_error>

#include <socketengine/options.hpp>

#include "discovery/message.hpp"

namespace socketengine::detail::discovery {

struct responder_settings {
  answer about;             // name, id, protocol, port, tls, token; addresses filled per query
  std::string bind_address; // where the hub listens on TCP: which addresses it may give
  discovery_options options;
};

class responder : public std::enable_shared_from_this<responder> {
public:
  /// Trouble that leaves the hub less findable than asked: the UDP port
  /// taken by another program, an interface that refused the group. The
  /// hub itself goes on. Called on the I/O thread.
  using report_fn = std::function<void(std::error_code, std::string)>;

  responder(asio::io_context& io, responder_settings settings, report_fn report);

  /// Opens the socket, joins the group and starts answering. I/O thread.
  void start();
  /// Stops answering and closes the socket. I/O thread.
  void stop();

private:
  void wait_readable();
  void read_all();
  void handle(std::string_view datagram, const sockaddr_in& from, unsigned ifindex);
  void join_interfaces();
  void arm_rescan();
  /// Refills the bucket; whether an answer may go (the caller takes one).
  [[nodiscard]] bool has_token();

  asio::ip::udp::socket socket_;
  asio::steady_timer rescan_;
  responder_settings settings_;
  in_addr group_{};
  report_fn report_;
  std::set<unsigned> joined_;          // interface indices where the group is joined
  std::set<std::string> join_reported_; // interfaces whose failure to join was reported
  // A bound on answers per second, so that a flood of queries (spoofed,
  // say) cannot turn the hub into a source of traffic at someone else.
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
  bool stopped_ = false;
};

} // namespace socketengine::detail::discovery
