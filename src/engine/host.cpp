#include <socketengine/host.hpp>

#include "engine/engine_core.hpp"

namespace socketengine {

namespace {
std::shared_ptr<detail::engine_core> make_host_core(const host_options& o) {
  detail::engine_config cfg{
      "host", o.timeout, std::chrono::milliseconds(0),
      {/*hub=*/false, o.native, o.read_size, o.limits, o.images}, o.keepalive,
      reconnect_options{.enabled = false}, o.work_thread_nice};
  detail::apply_auth(cfg, o.auth, "host");
  detail::apply_tls(cfg, o.tls, "host", /*listens=*/true);
  auto core = std::make_shared<detail::engine_core>(std::move(cfg));
  core->start();
  return core;
}
} // namespace

host::host(host_options options)
    : engine(make_host_core(options)), address_(options.address), port_(options.port),
      listen_on_(std::move(options.listen_on)), socket_file_mode_(options.socket_file_mode) {
  if (options.open) open();
}

host::~host() = default;

void host::open() {
  std::lock_guard lk(mu_);
  if (core_->listening()) return;
  detail::transport::listen_request request;
  request.address = address_;
  request.port = port_;
  request.file_mode = socket_file_mode_;
  core_->listen(request);
  for (const auto& endpoint : listen_on_) core_->listen(endpoint, socket_file_mode_);
}

host& host::start() {
  open();
  core_->start_accepting();
  return *this;
}

std::uint16_t host::port() const noexcept { return core_->listen_port(); }

bool host::listening() const noexcept { return core_->listening(); }

void host::listen(std::string_view endpoint) { core_->listen(endpoint, socket_file_mode_); }

void host::listen(std::string_view endpoint, std::uint32_t socket_file_mode) {
  core_->listen(endpoint, socket_file_mode);
}

std::vector<value> host::get_all(std::string_view channel) const {
  return core_->collect([](const connection&) { return true; }, channel);
}

std::vector<value> host::wait_for(std::string_view channel,
                                  std::chrono::milliseconds timeout) const {
  return core_->wait_for_any(channel, timeout);
}

std::size_t host::write_all(std::string_view channel, const value& v) {
  return core_->write_each([](const connection&) { return true; }, channel, v);
}

std::size_t host::write_image_all(const image& img) {
  return core_->write_image_each([](const connection&) { return true; }, img);
}

std::size_t host::write_image_all(const image& img, share_pixels_t) {
  return core_->write_image_each([](const connection&) { return true; }, img,
                                 /*share_pixels=*/true);
}

} // namespace socketengine
