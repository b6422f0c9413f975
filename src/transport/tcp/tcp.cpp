#include "transport/tcp/tcp.hpp"

#include <asio.hpp>

#include "transport/socket_dialer.hpp"
#include "transport/socket_listener.hpp"
#include "transport/socket_stream.hpp"
#include "transport/system.hpp"
#include "transport/tls/handshake.hpp"

#include <socketengine/error.hpp>

#include <list>

namespace socketengine::detail::transport::tcp {

namespace {

using asio::ip::tcp;

std::string endpoint_name(const peer& who) {
  return who.address + " port " + std::to_string(who.port);
}

class tcp_listener final : public socket_listener<tcp> {
public:
  tcp_listener(tcp::acceptor acceptor, const tcp::endpoint& bound,
               std::shared_ptr<const tls::config> tls)
      : socket_listener(std::move(acceptor)), port_(bound.port()),
        name_(bound.address().to_string() + " port " + std::to_string(port_)),
        tls_(std::move(tls)) {}

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] std::uint16_t port() const noexcept override { return port_; }

  void close() noexcept override {
    socket_listener::close();
    // A copy: each cancelled handshake leaves the list as it ends.
    auto pending = handshakes_;
    for (auto& h : pending) h->cancel();
  }

private:
  void hand_over(tcp::socket socket, peer who) override {
    if (!tls_) return socket_listener::hand_over(std::move(socket), std::move(who));
    // Handshakes in progress are bounded like peers that have not named
    // themselves: each holds OpenSSL's buffers, and the engine does not
    // count them yet.
    if (handshakes_.size() >= tls_->max_handshakes()) {
      failed_(make_error_code(errc::not_identified),
              std::to_string(handshakes_.size()) +
                  " TLS handshakes are in progress (limits.max_unidentified): refusing a "
                  "connection from " +
                  who.address);
      return;
    }
    auto name = endpoint_name(who);
    auto at = handshakes_.insert(handshakes_.end(), nullptr);
    *at = tls::handshake::accept(
        std::move(socket), *tls_, std::move(who),
        [this, at, name](std::error_code ec, std::unique_ptr<stream> s) {
          handshakes_.erase(at);
          if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
          if (ec) {
            return failed_(ec, ec == std::errc::timed_out
                                   ? "the TLS handshake with " + name + " did not finish in time"
                                   : "the TLS handshake with " + name + " failed");
          }
          accepted_(std::move(s));
        });
  }

  bool admit(tcp::socket& socket, peer& who) override {
    std::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (ec) return false;
    // Messages are written whole: Nagle's algorithm would only delay them.
    socket.set_option(tcp::no_delay(true), ec);
    who = {remote.address().to_string(), remote.port()};
    return true;
  }

  std::uint16_t port_;
  std::string name_;
  std::shared_ptr<const tls::config> tls_;
  std::list<std::shared_ptr<tls::handshake>> handshakes_;
};

std::unique_ptr<listener> listen(asio::io_context& io, const listen_request& request,
                                 std::error_code& ec, std::string& what) {
  auto addr = asio::ip::make_address(request.address, ec);
  if (ec) {
    ec = portable(ec);
    what = "bad address \"" + request.address + "\"";
    return nullptr;
  }
  std::uint16_t lo = request.port ? *request.port : request.first;
  std::uint16_t hi = request.port ? *request.port : request.last;
  tcp::acceptor acceptor(io);
  for (std::uint32_t p = lo; p <= hi; ++p) {
    tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
    std::error_code ignored;
    acceptor.close(ignored);
    acceptor.open(ep.protocol(), ec);
    if (!ec) set_cloexec(acceptor.native_handle());
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    tcp::endpoint bound;
    if (!ec) bound = acceptor.local_endpoint(ec);
    if (!ec) return std::make_unique<tcp_listener>(std::move(acceptor), bound, request.tls);
  }
  ec = portable(ec);
  what = request.port ? "cannot listen on " + request.address + " port " +
                            std::to_string(*request.port)
                      : "no free port in " + std::to_string(request.first) + ".." +
                            std::to_string(request.last) + " on " + request.address;
  return nullptr;
}

class tcp_dialer final : public socket_dialer<tcp> {
public:
  tcp_dialer(asio::io_context& io, std::string_view host, std::uint16_t port,
             std::shared_ptr<const tls::config> tls)
      : socket_dialer(io), resolver_(io), host_(host), port_(port), tls_(std::move(tls)) {}

  void async_connect(done_fn done) override {
    begin(std::move(done));
    if (resolved_) return connect();
    // A numeric address needs no resolver: that keeps the common case off
    // getaddrinfo, which close() could not interrupt.
    std::error_code numeric_ec;
    auto addr = asio::ip::make_address(host_, numeric_ec);
    if (!numeric_ec) {
      endpoints_ = tcp::resolver::results_type::create(tcp::endpoint(addr, port_), host_,
                                                       std::to_string(port_));
      resolved_ = true;
      return connect();
    }
    resolver_.async_resolve(host_, std::to_string(port_),
                            [this](std::error_code ec, tcp::resolver::results_type results) {
                              if (ec) return failed(ec);
                              endpoints_ = std::move(results);
                              resolved_ = true;
                              connect();
                            });
  }

  void cancel() noexcept override {
    resolver_.cancel();
    socket_dialer::cancel();
    if (handshake_) handshake_->cancel();
  }

  [[nodiscard]] bool worth_retrying(std::error_code ec) const noexcept override {
    return ec == std::errc::connection_refused;
  }

private:
  void connect() {
    asio::async_connect(socket_, endpoints_, [this](std::error_code ec, const tcp::endpoint&) {
      if (ec) return failed(ec);
      std::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      if (!tls_) return connected(peer{host_, port_});
      set_cloexec(socket_.native_handle());
      std::error_code name_ec;
      handshake_ = tls::handshake::dial(
          std::move(socket_), *tls_, peer{host_, port_}, host_,
          [this](std::error_code hs_ec, std::unique_ptr<stream> s) {
            handshake_.reset();
            if (hs_ec) return failed(hs_ec);
            deliver(std::move(s));
          },
          name_ec);
      if (!handshake_) failed(name_ec);
    });
  }

  tcp::resolver resolver_;
  std::string host_;
  std::uint16_t port_;
  bool resolved_ = false;
  tcp::resolver::results_type endpoints_;
  std::shared_ptr<const tls::config> tls_;
  std::shared_ptr<tls::handshake> handshake_;
};

std::unique_ptr<dialer> dial(asio::io_context& io, const dial_request& request,
                             std::error_code&) {
  return std::make_unique<tcp_dialer>(io, request.address, request.port, request.tls);
}

} // namespace

const transport_ops ops{"", &listen, &dial};

} // namespace socketengine::detail::transport::tcp
