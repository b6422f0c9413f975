// The public face of a connection: every call forwards to the unit that
// owns what it asks about (see connection_impl.hpp).

#include "connection/connection_impl.hpp"

#include <stdexcept>

#include <socketengine/error.hpp>

#include "protocol/encoded.hpp"
#include "util/deadline.hpp"

namespace socketengine {

connection::connection(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
connection::~connection() = default;

std::optional<value> connection::get(std::string_view channel) const {
  return impl_->store_.get(channel);
}

std::optional<value> connection::wait_for(std::string_view channel,
                                          std::chrono::milliseconds timeout) const {
  return impl_->store_.wait_for(channel, detail::deadline_after(timeout));
}

std::uint64_t connection::version(std::string_view channel) const {
  return impl_->store_.version(channel);
}

std::optional<value> connection::wait_for_next(std::string_view channel,
                                               std::chrono::milliseconds timeout) const {
  return wait_for_next(channel, timeout, version(channel));
}

std::optional<value> connection::wait_for_next(std::string_view channel,
                                               std::chrono::milliseconds timeout,
                                               std::uint64_t since) const {
  return impl_->store_.wait_for_next(channel, since, detail::deadline_after(timeout));
}

namespace {
// outbox::write, with what encoding throws reported in `ec`: an invalid
// string, a channel name too long for a frame, or no memory.
template <class Encode>
void write_reporting(detail::outbox& out, std::string_view channel, Encode&& encode,
                     std::error_code& ec) noexcept {
  try {
    out.write(channel, encode, ec);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {
    ec = std::make_error_code(std::errc::invalid_argument);
  }
}
} // namespace

void connection::write(std::string_view channel, const value& v) {
  std::error_code ec;
  write(channel, v, ec);
  if (ec) throw std::system_error(ec, "socketengine: write on \"" + std::string(channel) + "\"");
}

void connection::write(std::string_view channel, const value& v, std::error_code& ec) noexcept {
  write_reporting(
      impl_->out_, channel,
      [&](std::string& out, const detail::protocol::writer& w) { w.append_value(out, channel, v); },
      ec);
}

void connection::write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes) {
  std::error_code ec;
  write_bytes(channel, bytes, ec);
  if (ec) throw std::system_error(ec, "socketengine: write_bytes on \"" + std::string(channel) + "\"");
}

void connection::write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes,
                             std::error_code& ec) noexcept {
  write_reporting(
      impl_->out_, channel,
      [&](std::string& out, const detail::protocol::writer& w) {
        w.append_bytes(out, channel, bytes);
      },
      ec);
}

namespace {

// Every write_image overload ends here. `share`: the frame may keep the
// caller's pixels instead of a copy (share_pixels).
image_status write_image_to(connection& c, const image& img, image_encoding encoding, bool share,
                            std::error_code& ec) noexcept {
  ec.clear();
  if (img.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return image_status::dropped;
  }
  if (!c.is_open()) {
    ec = errc::not_connected;
    return image_status::dropped;
  }
  auto& i = connection::impl::of(c);
  const auto& options = i.protocols_->settings().images;
  // A frame that would be dropped is not worth encoding.
  if (!options.latest_frame_wins && !c.can_write_image()) return image_status::dropped;
  try {
    detail::protocol::encoded_image encoded(img, encoding, options, share);
    return i.out_.write_image(encoded, options.latest_frame_wins, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {
    ec = errc::invalid_image;
  }
  return image_status::dropped;
}

image_status write_image_or_throw(connection& c, const image& img, image_encoding encoding,
                                  bool share) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  std::error_code ec;
  auto status = write_image_to(c, img, encoding, share, ec);
  if (ec) throw std::system_error(ec, "socketengine: write_image");
  return status;
}

} // namespace

image_status connection::write_image(const image& img) {
  return write_image_or_throw(*this, img, impl_->protocols_->settings().images.encoding, false);
}

image_status connection::write_image(const image& img, std::error_code& ec) noexcept {
  return write_image_to(*this, img, impl_->protocols_->settings().images.encoding, false, ec);
}

image_status connection::write_image(const image& img, image_encoding encoding) {
  return write_image_or_throw(*this, img, encoding, false);
}

image_status connection::write_image(const image& img, image_encoding encoding,
                                     std::error_code& ec) noexcept {
  return write_image_to(*this, img, encoding, false, ec);
}

image_status connection::write_image(const image& img, share_pixels_t) {
  return write_image_or_throw(*this, img, impl_->protocols_->settings().images.encoding, true);
}

image_status connection::write_image(const image& img, share_pixels_t,
                                     std::error_code& ec) noexcept {
  return write_image_to(*this, img, impl_->protocols_->settings().images.encoding, true, ec);
}

image_status connection::write_image(const image& img, image_encoding encoding, share_pixels_t) {
  return write_image_or_throw(*this, img, encoding, true);
}

image_status connection::write_image(const image& img, image_encoding encoding, share_pixels_t,
                                     std::error_code& ec) noexcept {
  return write_image_to(*this, img, encoding, true, ec);
}

bool connection::can_write_image() const noexcept { return impl_->out_.can_write_image(); }

bool connection::wait_for_image_slot(std::chrono::milliseconds timeout) const {
  return impl_->out_.wait_for_image_slot(detail::deadline_after(timeout));
}

std::optional<image> connection::get_image() const { return impl_->store_.get_image(); }

std::optional<image> connection::wait_for_image(std::chrono::milliseconds timeout) const {
  return wait_for_next_image(timeout, 0);
}

std::optional<image> connection::wait_for_next_image(std::chrono::milliseconds timeout,
                                                     std::uint64_t since) const {
  return impl_->store_.wait_for_image(since, detail::deadline_after(timeout));
}

std::uint64_t connection::image_version() const { return impl_->store_.image_version(); }

bool connection::flush(std::chrono::milliseconds timeout) {
  return impl_->out_.flush(detail::deadline_after(timeout));
}

void connection::close() {
  auto owner = impl_->owner_.lock();
  if (!owner) return; // the engine is gone, and it closed every connection
  auto self = shared_from_this();
  // User code never runs on the I/O thread, so this always posts.
  if (!owner->post_unless_closing(
          [self] { self->impl_->begin_close(errc::closed_locally, /*send_closing=*/true); }))
    return; // the engine's close() ends it, bounded
  // begin_close bounds the flush by the timeout; allow it that, plus slack
  // for the I/O thread to get to it.
  impl_->out_.wait_closed(detail::deadline_after(
      detail::saturating_add(owner->timeout(), std::chrono::seconds(1))));
}

bool connection::is_open() const noexcept { return impl_->out_.is_open(); }

link_state connection::state() const noexcept {
  using state = detail::outbox::state;
  switch (impl_->out_.current()) {
  case state::open: return link_state::connected;
  case state::down: return link_state::reconnecting;
  // Only a link that came back is seen authenticating: a new connection is
  // handed out once authenticated.
  case state::authenticating: return link_state::reconnecting;
  case state::closing: return link_state::closing;
  case state::closed: break;
  }
  return link_state::closed;
}

bool connection::is_native() const noexcept {
  return impl_->out_.writer().kind() == detail::protocol::protocol_kind::native;
}

std::error_code connection::close_reason() const { return impl_->out_.reason(); }

std::string connection::name() const { return impl_->store_.name(); }

std::string connection::address() const { return impl_->address_; }
std::uint16_t connection::port() const noexcept { return impl_->port_; }
connection_kind connection::kind() const noexcept { return impl_->kind_; }

connection_stats connection::stats() const noexcept {
  auto& me = *impl_;
  return {me.store_.messages(), me.out_.messages_out(), me.bytes_in_.load(), me.out_.bytes_out(),
          me.errors_.load(), me.out_.conflated(), me.reconnects_.load()};
}

} // namespace socketengine
