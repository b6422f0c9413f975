#pragma once
// The accept loop over any Asio acceptor, shared by the transports that
// have one (TCP, Unix domain sockets). A transport derives from it to say
// how an accepted socket is set up and whom it leads to.

#include <asio.hpp>

#include <chrono>
#include <optional>
#include <utility>

#include "transport/listener.hpp"
#include "transport/socket_stream.hpp"
#include "transport/system.hpp"

namespace socketengine::detail::transport {

template <class Protocol>
class socket_listener : public listener {
public:
  using acceptor_type = asio::basic_socket_acceptor<Protocol>;
  using socket_type = asio::basic_stream_socket<Protocol>;

  void start(accepted_fn accepted, failed_fn failed) override {
    accepted_ = std::move(accepted);
    failed_ = std::move(failed);
    accept();
  }

  void close() noexcept override {
    std::error_code ignored;
    acceptor_.close(ignored);
    try {
      if (retry_) retry_->cancel();
    } catch (const std::system_error&) {
      // The timer's handler checks that the acceptor is open before
      // accepting again: a cancel that failed changes nothing.
    }
  }

protected:
  explicit socket_listener(acceptor_type acceptor) : acceptor_(std::move(acceptor)) {}

  /// Sets up an accepted socket (options) and says whom it leads to; false
  /// drops it (the peer is already gone).
  virtual bool admit(socket_type& socket, peer& who) = 0;

  /// Makes an admitted socket a stream and hands it on (accepted_). A
  /// transport that has more to do first (a TLS handshake) does it here.
  virtual void hand_over(socket_type socket, peer who) {
    std::unique_ptr<stream> s;
    try {
      s = std::make_unique<socket_stream<Protocol>>(std::move(socket), std::move(who));
    } catch (const std::exception&) {
      return; // a socket that cannot be made non-blocking is dropped
    }
    accepted_(std::move(s));
  }

  acceptor_type acceptor_;
  accepted_fn accepted_;
  failed_fn failed_;

private:
  void accept() {
    acceptor_.async_accept([this](std::error_code ec, socket_type socket) {
      if (!acceptor_.is_open()) return; // closed; `this` may be going
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        failed_(portable(ec), "accept failed");
        retry_.emplace(acceptor_.get_executor(), std::chrono::milliseconds(100));
        retry_->async_wait([this](std::error_code wait_ec) {
          if (!wait_ec && acceptor_.is_open()) accept();
        });
        return;
      }
      set_cloexec(socket.native_handle());
      peer who;
      if (admit(socket, who)) hand_over(std::move(socket), std::move(who));
      accept();
    });
  }

  std::optional<asio::steady_timer> retry_;
};

} // namespace socketengine::detail::transport
