#include <socketengine/hub.hpp>

#include <socketengine/error.hpp>

#include <cstdlib>
#include <stdexcept>

#include "discovery/message.hpp"
#include "discovery/query.hpp"
#include "discovery/responder.hpp"
#include "engine/engine_core.hpp"
#include "protocol/native/frame_codec.hpp"

namespace socketengine {

namespace {
// SOCKETENGINE_DISCOVERY=off (or 0): discovery off for every hub of the
// process, for a deployment that wants no multicast whatever the program says.
bool discovery_switched_off() {
  const char* env = std::getenv("SOCKETENGINE_DISCOVERY");
  if (!env) return false;
  std::string_view v(env);
  return v == "off" || v == "0" || v == "false" || v == "no";
}

std::shared_ptr<detail::engine_core> make_hub_core(const hub_options& o) {
  if (!o.name.empty() && !detail::discovery::valid_name(o.name))
    throw std::invalid_argument("socketengine: hub: hub_options::name must be 1 to 255 bytes of "
                                "UTF-8 without control characters");
  detail::engine_config cfg{
      "hub", o.timeout, o.connect_timeout,
      {/*hub=*/true, o.native, o.read_size, o.limits, o.images}, o.keepalive, o.reconnect,
      o.work_thread_nice};
  detail::apply_auth(cfg, o.auth, "hub");
  detail::apply_tls(cfg, o.tls, "hub", /*listens=*/o.listen);
  auto core = std::make_shared<detail::engine_core>(std::move(cfg));
  core->start();
  return core;
}

// Which connections a call goes to: get_*, write_* and write_image_* share
// them, with and without share_pixels.
bool any(const connection&) { return true; }
bool local(const connection& c) { return c.kind() == connection_kind::local; }
bool remote(const connection& c) { return c.kind() == connection_kind::remote; }
auto named(std::string_view name) {
  return [name](const connection& c) { return c.name() == name; };
}
} // namespace

hub::hub(hub_options options)
    : engine(make_hub_core(options)), socket_file_mode_(options.socket_file_mode),
      name_(options.name), id_(detail::discovery::make_id()) {
  if (options.listen) {
    detail::transport::listen_request tcp;
    tcp.address = options.bind_address;
    tcp.port = options.port;
    core_->listen(tcp);
  }
  for (const auto& endpoint : options.listen_on) core_->listen(endpoint, socket_file_mode_);
  core_->start_accepting();
  discoverable_ = !name_.empty() && options.listen && options.discovery.enabled &&
                  !discovery_switched_off();
  if (!discoverable_) return;
  detail::discovery::responder_settings s;
  s.about.name = name_;
  s.about.id = id_;
  s.about.protocol = options.native ? detail::native::version : 0;
  s.about.port = core_->listen_port();
  // As the engine resolved them: what a dial will really be asked for.
  s.about.tls = core_->config().tls != nullptr;
  s.about.token = core_->config().protocols.token != nullptr;
  s.bind_address = options.bind_address;
  s.options = options.discovery;
  // The responder reports through the error handler; it holds the core
  // weakly, as the core (through its I/O thread) holds the responder.
  std::weak_ptr<detail::engine_core> core = core_;
  auto r = std::make_shared<detail::discovery::responder>(
      core_->io(), std::move(s), [core](std::error_code ec, std::string detail) {
        if (auto c = core.lock()) c->report(nullptr, ec, std::move(detail));
      });
  core_->add_service([r] { r->start(); }, [r] { r->stop(); });
}

void hub::listen(std::string_view endpoint) { core_->listen(endpoint, socket_file_mode_); }

void hub::listen(std::string_view endpoint, std::uint32_t socket_file_mode) {
  core_->listen(endpoint, socket_file_mode);
}

hub::~hub() = default;

std::uint16_t hub::port() const noexcept { return core_->listen_port(); }

std::shared_ptr<connection> hub::connect(std::string_view name, std::string_view address,
                                         std::uint16_t port, std::error_code& ec) {
  return core_->dial(name, address, port, ec);
}

std::shared_ptr<connection> hub::connect(std::string_view name, std::string_view address,
                                         std::uint16_t port, std::error_code& ec,
                                         const std::function<bool()>& keep_waiting) {
  return core_->dial(name, address, port, ec, keep_waiting);
}

std::shared_ptr<connection> hub::connect(std::string_view name, std::string_view address,
                                         std::uint16_t port) {
  std::error_code ec;
  auto c = core_->dial(name, address, port, ec);
  if (ec)
    throw std::system_error(ec, "socketengine: hub: cannot connect to " + std::string(address) +
                                    " port " + std::to_string(port));
  return c;
}

std::shared_ptr<connection> hub::connect(std::string_view name, std::string_view endpoint) {
  return connect(name, endpoint, 0);
}

std::shared_ptr<connection> hub::connect(std::string_view name, std::string_view endpoint,
                                         std::error_code& ec) {
  return connect(name, endpoint, 0, ec);
}

std::shared_ptr<connection> hub::connect_by_name(std::string_view name, std::error_code& ec,
                                                 const discover_options& options) {
  discover_options ask = options;
  ask.name = std::string(name);
  std::vector<discovered_hub> found;
  try {
    found = detail::discovery::ask(ask, /*first=*/true);
  } catch (const std::system_error& e) {
    ec = e.code();
    return nullptr;
  }
  if (found.empty()) {
    ec = errc::hub_not_found;
    return nullptr;
  }
  std::vector<detail::engine_core::candidate> candidates;
  for (const auto& h : found)
    for (const auto& address : h.addresses) candidates.push_back({address, h.port});
  return core_->dial_any(name, candidates, options.attempt_timeout, ec);
}

std::shared_ptr<connection> hub::connect_by_name(std::string_view name,
                                                 const discover_options& options) {
  std::error_code ec;
  auto c = connect_by_name(name, ec, options);
  if (ec)
    throw std::system_error(ec, "socketengine: hub: cannot connect to the hub named \"" +
                                    std::string(name) + "\"");
  return c;
}

std::vector<value> hub::get_all(std::string_view channel) const {
  return core_->collect(any, channel);
}

std::vector<value> hub::get_by_name(std::string_view name, std::string_view channel) const {
  return core_->collect(named(name), channel);
}

std::vector<value> hub::get_local(std::string_view channel) const {
  return core_->collect(local, channel);
}

std::vector<value> hub::get_remote(std::string_view channel) const {
  return core_->collect(remote, channel);
}

std::vector<value> hub::wait_for(std::string_view channel, std::chrono::milliseconds timeout) const {
  return core_->wait_for_any(channel, timeout);
}

std::size_t hub::write_all(std::string_view channel, const value& v) {
  return core_->write_each(any, channel, v);
}

std::size_t hub::write_to_name(std::string_view name, std::string_view channel, const value& v) {
  return core_->write_each(named(name), channel, v);
}

std::size_t hub::write_to_local(std::string_view channel, const value& v) {
  return core_->write_each(local, channel, v);
}

std::size_t hub::write_to_remote(std::string_view channel, const value& v) {
  return core_->write_each(remote, channel, v);
}

std::size_t hub::write_image_all(const image& img) { return core_->write_image_each(any, img); }

std::size_t hub::write_image_to_name(std::string_view name, const image& img) {
  return core_->write_image_each(named(name), img);
}

std::size_t hub::write_image_to_local(const image& img) {
  return core_->write_image_each(local, img);
}

std::size_t hub::write_image_to_remote(const image& img) {
  return core_->write_image_each(remote, img);
}

std::size_t hub::write_image_all(const image& img, share_pixels_t) {
  return core_->write_image_each(any, img, /*share_pixels=*/true);
}

std::size_t hub::write_image_to_name(std::string_view name, const image& img, share_pixels_t) {
  return core_->write_image_each(named(name), img, /*share_pixels=*/true);
}

std::size_t hub::write_image_to_local(const image& img, share_pixels_t) {
  return core_->write_image_each(local, img, /*share_pixels=*/true);
}

std::size_t hub::write_image_to_remote(const image& img, share_pixels_t) {
  return core_->write_image_each(remote, img, /*share_pixels=*/true);
}

} // namespace socketengine
