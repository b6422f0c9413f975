#include "transport/tls/handshake.hpp"

#include <asio/ip/address.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <new>
#include <string>

#include "transport/system.hpp"

namespace socketengine::detail::transport::tls {

namespace {
SSL* new_session(asio::ssl::context& ctx) {
  SSL* ssl = SSL_new(ctx.native_handle());
  if (!ssl) throw std::bad_alloc();
  return ssl;
}
} // namespace

handshake::handshake(std::unique_ptr<tls_stream> stream, done_fn done)
    : stream_(std::move(stream)), timer_(stream_->socket().get_executor()),
      done_(std::move(done)) {}

std::shared_ptr<handshake> handshake::accept(asio::ip::tcp::socket socket, const config& c,
                                             peer who, done_fn done) {
  SSL* ssl = new_session(*c.server());
  SSL_set_accept_state(ssl);
  auto s = std::make_unique<tls_stream>(std::move(socket), ssl, std::move(who));
  auto h = std::make_shared<handshake>(std::move(s), std::move(done));
  h->start(c.handshake_timeout());
  return h;
}

std::shared_ptr<handshake> handshake::dial(asio::ip::tcp::socket socket, const config& c,
                                           peer who, std::string_view host, done_fn done,
                                           std::error_code& ec) {
  SSL* ssl = new_session(c.client());
  auto s = std::make_unique<tls_stream>(std::move(socket), ssl, std::move(who));
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
  SSL_set_connect_state(ssl);
  auto h = std::make_shared<handshake>(std::move(s), std::move(done));
  h->start(c.handshake_timeout());
  return h;
}

void handshake::start(std::chrono::milliseconds timeout) {
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec || !self->done_) return;
    self->timed_out_ = true;
    std::error_code ignored;
    self->stream_->socket().close(ignored); // what waits ends aborted
  });
  step();
}

void handshake::step() {
  if (!done_) return;
  std::error_code ec;
  auto next = stream_->handshake_step(ec);
  flight_ = stream_->take_output();
  auto go_on = [self = shared_from_this(), next, ec] {
    if (next == tls_stream::step::done) return self->finish({});
    if (next == tls_stream::step::failed) return self->finish(ec);
    self->stream_->socket().async_wait(
        asio::socket_base::wait_read, [self](std::error_code wait_ec) {
          if (wait_ec) return self->finish(wait_ec);
          std::error_code pull_ec;
          std::size_t got = 0;
          if (!self->stream_->pull(pull_ec, got)) return self->finish(pull_ec);
          self->step();
        });
  };
  // What the session made goes first: the next flight, or the alert that
  // tells the peer why it is refused.
  if (flight_.empty()) return go_on();
  asio::async_write(stream_->socket(), asio::buffer(flight_),
                    [go_on, next, self = shared_from_this()](std::error_code write_ec,
                                                             std::size_t) {
                      if (write_ec && next != tls_stream::step::failed)
                        return self->finish(write_ec);
                      go_on();
                    });
}

void handshake::cancel() noexcept {
  cancelled_ = true;
  std::error_code ignored;
  stream_->socket().close(ignored);
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
  try {
    timer_.cancel();
  } catch (const std::system_error&) {
    // Its handler checks done_ before it does anything.
  }
  if (cancelled_) ec = asio::error::operation_aborted;
  else if (timed_out_) ec = std::make_error_code(std::errc::timed_out);
  if (ec) return done(portable(ec), nullptr);
  done({}, std::move(stream_));
}

} // namespace socketengine::detail::transport::tls
