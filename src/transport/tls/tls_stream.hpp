#pragma once
// A stream over TLS on TCP (asio::ssl::stream over a TCP socket), once its
// handshake is done (see handshake.hpp).
//
// OpenSSL's session is not to be used from two threads at once, and the
// I/O thread reads it at any time: so try_write() takes nothing, and every
// write goes through the I/O thread.
//
// A stream over TLS cannot wait for readability of its socket alone:
// OpenSSL may hold decrypted bytes, or a record, that the socket no longer
// shows. So async_wait_readable() reads, into a buffer of one record's
// size that read_some() then hands out; an idle TLS connection holds that
// buffer, and OpenSSL's own, about 50 KiB in all.

#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>

#include <memory>
#include <string>

#include "transport/stream.hpp"

namespace socketengine::detail::transport::tls {

using ssl_socket = asio::ssl::stream<asio::ip::tcp::socket>;

class tls_stream final : public stream {
public:
  /// Takes a socket whose handshake is done.
  tls_stream(std::unique_ptr<ssl_socket> socket, peer p);

  std::size_t read_some(std::span<char> into, std::error_code& ec) override;
  void async_wait_readable(std::shared_ptr<stream_user> user) override;
  void async_write(std::vector<asio::const_buffer> buffers,
                   std::shared_ptr<stream_user> user) override;
  /// Takes nothing: see the file comment.
  std::size_t try_write(std::string_view) noexcept override { return 0; }
  /// Ends the TCP stream's output without TLS's close_notify: see the
  /// definition.
  void shutdown_send() noexcept override;
  void close() noexcept override;
  void keep_alive(const keepalive_options& o) noexcept override;

private:
  std::unique_ptr<ssl_socket> socket_;
  // Decrypted bytes read ahead, in_[in_begin_, in_end_), and the error the
  // read that filled them ended with, for read_some() to hand on in order.
  std::unique_ptr<char[]> in_;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::error_code in_ec_;
  bool closed_ = false;
  // Small buffers of one write, copied together (see async_write).
  std::string gathered_;
};

} // namespace socketengine::detail::transport::tls
