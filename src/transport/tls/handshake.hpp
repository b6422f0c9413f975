#pragma once
// One TLS handshake over a connected TCP socket, bounded by the
// configuration's handshake_timeout: on the accepting side before the
// engine sees the connection, on the dialling side before the dial
// succeeds. Either way a peer that fails it never becomes a connection.
// I/O thread only.

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "transport/stream.hpp"
#include "transport/tls/config.hpp"
#include "transport/tls/tls_stream.hpp"

namespace socketengine::detail::transport::tls {

class handshake : public std::enable_shared_from_this<handshake> {
public:
  /// The stream, or why there is none: an error in tls_category() (see
  /// config.hpp), std::errc::timed_out, the socket's error (the peer
  /// closed: asio::error::eof), or operation_aborted after cancel().
  using done_fn = std::function<void(std::error_code, std::unique_ptr<stream>)>;

  /// Starts the accepting side's handshake. `c` must have a server context.
  /// \throws std::bad_alloc, std::system_error.
  static std::shared_ptr<handshake> accept(asio::ip::tcp::socket socket, const config& c,
                                           peer who, done_fn done);

  /// Starts the dialling side's handshake, checking the listener's
  /// certificate against `host` (or c.server_name()). Null with `ec` set
  /// when that name cannot be checked (an IPv6 address with a zone).
  /// \throws std::bad_alloc, std::system_error.
  static std::shared_ptr<handshake> dial(asio::ip::tcp::socket socket, const config& c, peer who,
                                         std::string_view host, done_fn done,
                                         std::error_code& ec);

  /// Ends the handshake: `done` runs with operation_aborted, unless it ran.
  void cancel() noexcept;

  handshake(std::unique_ptr<tls_stream> stream, done_fn done);

private:
  void start(std::chrono::milliseconds timeout);
  /// Runs the session as far as it goes, sends what it made, then waits
  /// for the peer or ends.
  void step();
  void finish(std::error_code ec);

  std::unique_ptr<tls_stream> stream_;
  asio::steady_timer timer_;
  done_fn done_;
  std::string flight_; // bytes being sent
  bool timed_out_ = false;
  bool cancelled_ = false;
};

} // namespace socketengine::detail::transport::tls
