#include "transport/tls/handshake.hpp"

#include <asio/ip/address.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <string>

namespace socketengine::detail::transport::tls {

handshake::handshake(std::unique_ptr<ssl_socket> socket, peer who, done_fn done)
    : socket_(std::move(socket)), timer_(socket_->get_executor()), who_(std::move(who)),
      done_(std::move(done)) {}

std::shared_ptr<handshake> handshake::accept(asio::ip::tcp::socket socket, const config& c,
                                             peer who, done_fn done) {
  auto s = std::make_unique<ssl_socket>(std::move(socket), *c.server());
  auto h = std::make_shared<handshake>(std::move(s), std::move(who), std::move(done));
  h->start(asio::ssl::stream_base::server, c.handshake_timeout());
  return h;
}

std::shared_ptr<handshake> handshake::dial(asio::ip::tcp::socket socket, const config& c,
                                           peer who, std::string_view host, done_fn done,
                                           std::error_code& ec) {
  auto s = std::make_unique<ssl_socket>(std::move(socket), c.client());
  SSL* ssl = s->native_handle();
  std::string name(c.server_name().empty() ? host : c.server_name());
  std::error_code not_ip;
  asio::ip::make_address(name, not_ip);
  // OpenSSL checks the name during the handshake, so a mismatch fails it
  // with its own reason (X509_V_ERR_HOSTNAME_MISMATCH,
  // X509_V_ERR_IP_ADDRESS_MISMATCH).
  if (c.verify_peer()) {
    int ok = not_ip ? SSL_set1_host(ssl, name.c_str())
                    : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    if (ok != 1) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return nullptr;
    }
  }
  // Server name indication names hosts, never addresses (RFC 6066).
  if (not_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  auto h = std::make_shared<handshake>(std::move(s), std::move(who), std::move(done));
  h->start(asio::ssl::stream_base::client, c.handshake_timeout());
  return h;
}

void handshake::start(asio::ssl::stream_base::handshake_type type,
                      std::chrono::milliseconds timeout) {
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec) return;
    self->timed_out_ = true;
    std::error_code ignored;
    self->socket_->lowest_layer().close(ignored); // the handshake ends aborted
  });
  socket_->async_handshake(type, [self = shared_from_this()](std::error_code ec) {
    self->timer_.cancel();
    if (self->timed_out_) ec = std::make_error_code(std::errc::timed_out);
    if (self->cancelled_) ec = asio::error::operation_aborted;
    self->finish(ec);
  });
}

void handshake::cancel() noexcept {
  cancelled_ = true;
  std::error_code ignored;
  socket_->lowest_layer().close(ignored);
  try {
    timer_.cancel();
  } catch (const std::system_error&) {
    // The handshake, aborted by the close, ends the timer's use.
  }
}

void handshake::finish(std::error_code ec) {
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  if (ec) return done(failure(ec, socket_->native_handle()), nullptr);
  done({}, std::make_unique<tls_stream>(std::move(socket_), std::move(who_)));
}

} // namespace socketengine::detail::transport::tls
