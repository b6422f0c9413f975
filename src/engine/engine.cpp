#include <socketengine/engine.hpp>

#include "engine/engine_core.hpp"

namespace socketengine {

engine::engine(std::shared_ptr<detail::engine_core> core) : core_(std::move(core)) {}

engine::~engine() {
  // Close before letting go of the core, so queued callbacks still find it.
  if (core_) core_->close();
}

void engine::on(std::string_view channel, message_handler handler) {
  core_->add_handler(channel, std::move(handler));
}
void engine::on_message(any_message_handler handler) { core_->add_any_handler(std::move(handler)); }
void engine::on_image(image_handler handler) { core_->add_image_handler(std::move(handler)); }
void engine::on_connect(connection_handler handler) {
  core_->add_lifecycle_handler(detail::callbacks::event::connected, std::move(handler));
}
void engine::on_disconnect(connection_handler handler) {
  core_->add_lifecycle_handler(detail::callbacks::event::disconnected, std::move(handler));
}
void engine::on_link_down(connection_handler handler) {
  core_->add_lifecycle_handler(detail::callbacks::event::link_down, std::move(handler));
}
void engine::on_link_up(connection_handler handler) {
  core_->add_lifecycle_handler(detail::callbacks::event::link_up, std::move(handler));
}
void engine::on_error(error_handler handler) { core_->set_error_handler(std::move(handler)); }

std::vector<std::shared_ptr<connection>> engine::connections() const { return core_->connections(); }

std::shared_ptr<connection> engine::wait_for_connection(std::chrono::milliseconds timeout) const {
  std::shared_ptr<connection> found;
  core_->wait_until(detail::deadline_after(timeout), [&] {
    for (auto& c : core_->connections())
      if (c->is_open()) {
        found = c;
        return true;
      }
    return false;
  });
  return found;
}

bool engine::wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const {
  return core_->wait_until(detail::deadline_after(timeout), [&] {
    std::size_t open = 0;
    for (auto& c : core_->connections()) open += c->is_open() ? 1 : 0;
    return open >= count;
  });
}

void engine::set_timeout(std::chrono::milliseconds timeout) { core_->set_timeout(timeout); }

void engine::close() { core_->close(); }

bool engine::is_open() const noexcept { return core_->is_open(); }

} // namespace socketengine
