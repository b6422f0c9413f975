#pragma once
// What a dialer over any Asio stream socket does once an attempt ends,
// shared by the transports that have one (TCP, Unix domain sockets): hand
// the connected socket on as a stream, or the error.

#include <asio.hpp>

#include <utility>

#include "transport/dialer.hpp"
#include "transport/socket_stream.hpp"
#include "transport/system.hpp"

namespace socketengine::detail::transport {

template <class Protocol>
class socket_dialer : public dialer {
public:
  using socket_type = asio::basic_stream_socket<Protocol>;

  void cancel() noexcept override {
    std::error_code ignored;
    socket_.close(ignored);
  }

protected:
  explicit socket_dialer(asio::io_context& io) : socket_(io) {}

  /// Takes `done` for the attempt that starts.
  void begin(done_fn done) { done_ = std::move(done); }

  /// The attempt connected: `socket_` becomes a stream leading to `who`.
  void connected(peer who) {
    set_cloexec(socket_.native_handle());
    std::unique_ptr<stream> s;
    try {
      s = std::make_unique<socket_stream<Protocol>>(std::move(socket_), std::move(who));
    } catch (const std::system_error& e) {
      return failed(e.code());
    }
    deliver(std::move(s));
  }

  /// The attempt made `s`.
  void deliver(std::unique_ptr<stream> s) {
    // Moved out first: the callback may end the attempt that owns this.
    auto done = std::move(done_);
    done({}, std::move(s));
  }

  /// The attempt failed with `ec`.
  void failed(std::error_code ec) {
    auto done = std::move(done_);
    done(portable(ec), nullptr);
  }

  socket_type socket_;

private:
  done_fn done_;
};

} // namespace socketengine::detail::transport
