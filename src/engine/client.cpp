#include <socketengine/client.hpp>

#include <socketengine/error.hpp>

#include "engine/engine_core.hpp"

namespace socketengine {

namespace {
std::shared_ptr<detail::engine_core> make_client_core(const client_options& o) {
  detail::engine_config cfg{
      "client", o.timeout, o.connect_timeout,
      {/*hub=*/false, o.native, o.read_size, o.limits, o.images}, o.keepalive, o.reconnect,
      o.work_thread_nice};
  detail::apply_auth(cfg, o.auth, "client");
  detail::apply_tls(cfg, o.tls, "client", /*listens=*/false);
  auto core = std::make_shared<detail::engine_core>(std::move(cfg));
  core->start();
  return core;
}
} // namespace

client::client(client_options options)
    : engine(make_client_core(options)), address_(options.address), port_(options.port) {
  if (options.open) open();
}

client::~client() = default;

void client::open() { open(std::function<bool()>{}); }

void client::open(const std::function<bool()>& keep_waiting) {
  // open_mu_ serialises dialling; mu_ guards conn_ only briefly, so get()
  // and write() on other threads do not wait out a dial.
  std::lock_guard open_lk(open_mu_);
  if (auto c = connection(); c && c->is_open()) return;
  std::error_code ec;
  auto c = core_->dial(std::nullopt, address_, port_, ec, keep_waiting);
  if (ec)
    throw std::system_error(ec, "socketengine: client: cannot connect to " + address_ + " port " +
                                    std::to_string(port_));
  std::lock_guard lk(mu_);
  conn_ = std::move(c);
}

client& client::start() {
  open();
  return *this;
}

std::shared_ptr<socketengine::connection> client::connection() const {
  std::lock_guard lk(mu_);
  return conn_;
}

std::optional<value> client::get(std::string_view channel) const {
  auto c = connection();
  return c ? c->get(channel) : std::nullopt;
}

std::optional<value> client::wait_for(std::string_view channel,
                                      std::chrono::milliseconds timeout) const {
  auto c = connection();
  return c ? c->wait_for(channel, timeout) : std::nullopt;
}

std::shared_ptr<connection> client::open_connection() const {
  auto c = connection();
  if (!c) throw std::system_error(errc::not_connected, "socketengine: client: not open");
  return c;
}

void client::write(std::string_view channel, const value& v) {
  open_connection()->write(channel, v);
}

void client::write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes) {
  open_connection()->write_bytes(channel, bytes);
}

void client::write(std::string_view channel, const value& v, std::error_code& ec) noexcept {
  auto c = connection();
  if (!c) {
    ec = errc::not_connected;
    return;
  }
  c->write(channel, v, ec);
}

image_status client::write_image(const image& img) {
  return open_connection()->write_image(img);
}

image_status client::write_image(const image& img, share_pixels_t) {
  return open_connection()->write_image(img, share_pixels);
}

image_status client::write_image(const image& img, image_encoding encoding) {
  return open_connection()->write_image(img, encoding);
}

image_status client::write_image(const image& img, image_encoding encoding, share_pixels_t) {
  return open_connection()->write_image(img, encoding, share_pixels);
}

std::optional<image> client::get_image() const {
  auto c = connection();
  return c ? c->get_image() : std::nullopt;
}

std::optional<image> client::wait_for_image(std::chrono::milliseconds timeout) const {
  auto c = connection();
  return c ? c->wait_for_image(timeout) : std::nullopt;
}

} // namespace socketengine
