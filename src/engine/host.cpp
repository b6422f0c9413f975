#include <socketengine/host.hpp>

#include "engine/engine_core.hpp"

namespace socketengine {

namespace {
std::shared_ptr<detail::engine_core> make_host_core(const host_options& o) {
  auto core = std::make_shared<detail::engine_core>(detail::engine_config{
      "host", o.timeout, std::chrono::milliseconds(0),
      {/*hub=*/false, o.native, o.read_size, o.limits, o.images}});
  core->start();
  return core;
}
} // namespace

host::host(host_options options)
    : engine(make_host_core(options)), address_(options.address), port_(options.port) {
  if (options.open) open();
}

host::~host() = default;

void host::open() {
  std::lock_guard lk(mu_);
  if (core_->listening()) return;
  detail::transport::listen_request request;
  request.address = address_;
  request.port = port_;
  core_->listen(request);
}

host& host::start() {
  open();
  core_->start_accepting();
  return *this;
}

std::uint16_t host::port() const noexcept { return core_->listen_port(); }

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

} // namespace socketengine
