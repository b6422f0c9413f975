#include "transport/tcp/tcp.hpp"

#include <asio.hpp>

#include "transport/socket_dialer.hpp"
#include "transport/socket_listener.hpp"
#include "transport/socket_stream.hpp"
#include "transport/system.hpp"

namespace socketengine::detail::transport::tcp {

namespace {

using asio::ip::tcp;

class tcp_listener final : public socket_listener<tcp> {
public:
  tcp_listener(tcp::acceptor acceptor, const tcp::endpoint& bound)
      : socket_listener(std::move(acceptor)), port_(bound.port()),
        name_(bound.address().to_string() + " port " + std::to_string(port_)) {}

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] std::uint16_t port() const noexcept override { return port_; }

private:
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
    if (!ec) return std::make_unique<tcp_listener>(std::move(acceptor), bound);
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
  tcp_dialer(asio::io_context& io, std::string_view host, std::uint16_t port)
      : socket_dialer(io), resolver_(io), host_(host), port_(port) {}

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
      connected(peer{host_, port_});
    });
  }

  tcp::resolver resolver_;
  std::string host_;
  std::uint16_t port_;
  bool resolved_ = false;
  tcp::resolver::results_type endpoints_;
};

std::unique_ptr<dialer> dial(asio::io_context& io, std::string_view address, std::uint16_t port,
                             std::error_code&) {
  return std::make_unique<tcp_dialer>(io, address, port);
}

} // namespace

const transport_ops ops{"", &listen, &dial};

} // namespace socketengine::detail::transport::tcp
