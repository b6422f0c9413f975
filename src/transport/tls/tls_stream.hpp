#pragma once
// A stream over TLS on a TCP socket: OpenSSL's session between two memory
// buffers (BIOs) that this stream fills from the socket and empties into
// it, so that it decides which thread does what.
//
// Why not Asio's SSL stream: its session is driven only by its own
// asynchronous operations on the I/O thread, so a small message could
// never go from the writer's thread straight to the socket (the direct
// write of plain TCP, see stream::try_write) and each would wait for the
// I/O thread to wake: about twice plain TCP's round trip. Here one mutex
// guards the session, and try_write() encrypts and sends from the caller's
// thread when nothing else is being written. Certificates, verification
// and the contexts still come from asio::ssl::context (config.hpp).
//
// Threading as stream.hpp says; the mutex makes try_write() safe beside
// the I/O thread's reads.

#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "transport/stream.hpp"

struct ssl_st;
struct bio_st;

namespace socketengine::detail::transport::tls {

class tls_stream final : public stream {
public:
  /// Takes a connected socket and a session for it (SSL_new, already in
  /// its connect or accept state); the session's BIOs are made here.
  /// \throws std::bad_alloc, std::system_error (the socket cannot be made
  /// non-blocking).
  tls_stream(asio::ip::tcp::socket socket, ssl_st* ssl, peer p);
  ~tls_stream() override;

  std::size_t read_some(std::span<char> into, std::error_code& ec) override;
  void async_wait_readable(std::shared_ptr<stream_user> user) override;
  void async_write(std::vector<asio::const_buffer> buffers,
                   std::shared_ptr<stream_user> user) override;
  std::size_t try_write(std::string_view bytes) noexcept override;
  /// One record's worth: SSL_write takes all it is handed, and a frame's
  /// megabytes encrypted under the outbox's and this stream's locks would
  /// hold up the I/O thread and sit as ciphertext beside the queue.
  [[nodiscard]] std::size_t try_write_limit() const noexcept override { return 16 * 1024; }
  /// Sends TLS's close_notify, where the socket takes it at once, then
  /// ends the TCP stream's output.
  void shutdown_send() noexcept override;
  void close() noexcept override;
  [[nodiscard]] bool idle() const noexcept override;
  void keep_alive(const keepalive_options& o) noexcept override;

  // --- the handshake (handshake.cpp), I/O thread ---------------------------
  enum class step { done, want_read, failed };
  /// Runs the handshake as far as what has arrived allows; its output is
  /// then in take_output(). `ec` says why when it failed.
  step handshake_step(std::error_code& ec);
  /// Moves what the socket has (without waiting) into the session, `got`
  /// bytes. False with `ec` at the end of the stream or on an error; true
  /// with `got` 0 when nothing has arrived.
  bool pull(std::error_code& ec, std::size_t& got);
  /// The bytes the session has made to send, taken.
  std::string take_output();
  [[nodiscard]] asio::ip::tcp::socket& socket() noexcept { return socket_; }
  [[nodiscard]] ssl_st* session() noexcept { return ssl_; }

private:
  /// Why the last call into the session, which returned `ret`, failed.
  std::error_code session_error(int ret);
  /// Moves the session's output into out_, unless a send is reading out_.
  /// Under mu_.
  void take_output_locked();
  /// Sends what out_ holds that the socket takes now. Under mu_.
  void send_now_locked() noexcept;
  /// Carries the write under way on: encrypts the next piece of it, sends
  /// what is encrypted, reports. I/O thread.
  void pump();
  /// What the I/O thread does when its own work for this stream (a send,
  /// or a pump that try_write() posted) has ended: pumps on, or, closed
  /// with nothing left under way, tells `user` it may destroy the stream.
  /// The stream may be gone when this returns. I/O thread.
  void own_work_done(const std::shared_ptr<stream_user>& user);

  asio::ip::tcp::socket socket_;
  const int fd_; // for sends from the writer's thread
  mutable std::mutex mu_; // the session, out_, and the write state below
  ssl_st* ssl_;
  bio_st* in_bio_;  // what the socket delivered, for the session to read
  bio_st* out_bio_; // what the session wrote, for the socket

  // Ciphertext made and not yet sent, out_[out_sent_..]; one asynchronous
  // send of it at a time (sending_).
  std::string out_;
  std::size_t out_sent_ = 0;
  bool sending_ = false;
  std::error_code out_ec_; // a failed send, for the write that follows

  // The write async_write() asked for: its buffers, and how far they are
  // encrypted (at, at_offset). A piece is encrypted only once out_ has
  // gone, so what is encrypted has gone too when out_ is empty.
  struct request {
    std::vector<asio::const_buffer> buffers;
    std::size_t at = 0;
    std::size_t at_offset = 0;
    std::size_t total = 0;
    std::size_t encrypted = 0; // plaintext bytes encrypted so far
    std::shared_ptr<stream_user> user;
  };
  std::optional<request> request_;

  // Whom to keep alive while out_ drains after a try_write() that the
  // socket did not take whole, and how many pumps try_write() posted that
  // have not yet run: until they have, the stream must live.
  std::weak_ptr<stream_user> user_;
  std::size_t posted_ = 0;
  bool closed_ = false;

  // The I/O thread's own, read without the lock: whether the session had
  // nothing left to read when read_some() last returned (so the socket is
  // asked first), and whether user_ has been set.
  bool dry_ = false;
  bool user_known_ = false;
};

} // namespace socketengine::detail::transport::tls
