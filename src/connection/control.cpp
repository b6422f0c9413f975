#include "connection/control.hpp"

#include "connection/connection_impl.hpp"

namespace socketengine::detail {

using impl = connection::impl;

std::shared_ptr<connection> make_connection(const std::shared_ptr<connection_owner>& owner,
                                            std::unique_ptr<transport::stream> stream,
                                            std::shared_ptr<const protocol::suite> protocols,
                                            connection_kind kind,
                                            std::optional<std::string_view> announce,
                                            bool redial) {
  std::string greeting;
  auto first = protocols->start_link(kind == connection_kind::local, announce, greeting);
  bool authenticate = protocols->authenticates();
  auto c = impl::make(owner, std::move(stream), std::move(protocols), kind,
                      std::string(announce.value_or(std::string_view())));
  auto& me = impl::of(*c);
  me.in_ = std::move(first);
  // With a token the name goes only once the peer has authenticated.
  me.out_.queue_greeting(greeting, announce && !authenticate ? 1 : 0);
  if (authenticate) {
    me.out_.start_authenticating();
    me.handshaking_ = true;
    me.handshake_since_ = std::chrono::steady_clock::now();
  }
  if (announce) me.announce_.emplace(*announce);
  me.redial_ = redial && !authenticate;
  me.redial_after_auth_ = redial;
  return c;
}

void reattach(const std::shared_ptr<connection>& c, std::unique_ptr<transport::stream> stream) {
  impl::of(*c).reattach(std::move(stream));
}

void start(const std::shared_ptr<connection>& c) { impl::of(*c).start(); }

void begin_close(const std::shared_ptr<connection>& c, std::error_code reason) {
  impl::of(*c).begin_close(reason, /*send_closing=*/true);
}

void finish_close(const std::shared_ptr<connection>& c, std::error_code reason) {
  impl::of(*c).finish_close(reason);
}

void release_idle_buffers(connection& c) noexcept { impl::of(c).release_idle_buffers(); }

void watch(connection& c, const watch_settings& s, std::chrono::steady_clock::time_point now) {
  impl::of(c).watch(s, now);
}

bool awaiting_identity(const connection& c) noexcept { return impl::of(c).awaiting_identity(); }

bool closed(const connection& c) { return impl::of(c).out_.closed(); }

std::size_t held_bytes(const connection& c) noexcept { return impl::of(c).held_bytes(); }

std::size_t drop_held(connection& c) { return impl::of(c).drop_held(); }

void write(connection& c, protocol::encoded_message& message, std::error_code& ec) {
  impl::of(c).out_.write(message, ec);
}

image_status write_image(connection& c, protocol::encoded_image& img, std::error_code& ec) {
  return impl::of(c).out_.write_image(img, impl::of(c).protocols_->settings().images.latest_frame_wins,
                                      ec);
}

} // namespace socketengine::detail
