#include "protocol/legacy/session.hpp"

#include <socketengine/error.hpp>

#include "protocol/legacy/base64.hpp"
#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/line_codec.hpp"

namespace socketengine::detail::legacy {

namespace {
std::string_view image_channel_of(const protocol::settings& s) noexcept {
  return s.hub ? channels::image : channels::plain_image;
}

// Undoes the base64 of an image message's text into `m`.
void prepare_image(prepared& m, std::string_view base64) {
  m.what = prepared::kind::image;
  if (auto png = decode_image_base64(base64, m.error, m.detail)) m.png = std::move(*png);
}
} // namespace

std::string_view session::image_channel() const noexcept { return image_channel_of(settings_); }

prepared session::prepare_line(const protocol::settings& s, std::string_view line) {
  // An image line as the known peers write it skips the JSON parser.
  if (auto text = match_image_line(line, image_channel_of(s))) {
    prepared m;
    m.channel = image_channel_of(s);
    m.wire_bytes = line.size();
    // Host/client images are also an ordinary value on `image`, as the
    // Node.js host and client keep them.
    if (!s.hub) m.data = std::string(*text);
    prepare_image(m, *text);
    return m;
  }
  auto r = decode_line(line, s.limits.max_depth);
  if (r.what == decode_result::status::blank) return {};
  if (r.what == decode_result::status::error) {
    prepared m;
    m.what = prepared::kind::rejected;
    m.error = r.error;
    m.detail = std::move(r.detail);
    return m;
  }
  return prepare_message(s, std::move(r.message.channel), std::move(r.message.data), line.size());
}

prepared session::prepare_message(const protocol::settings& s, std::string&& channel,
                                  value&& data, std::size_t wire_bytes) {
  prepared m;
  m.channel = std::move(channel);
  m.wire_bytes = wire_bytes;
  if (m.channel == image_channel_of(s)) {
    if (data.is_string()) {
      prepare_image(m, data.get_ref<const std::string&>());
      if (!s.hub) m.data = std::move(data);
      return m;
    }
    if (s.hub) {
      // Still an image to acknowledge: the sender waits for it.
      m.what = prepared::kind::image;
      m.error = errc::invalid_base64;
      m.detail = "image data is not a string";
      return m;
    }
    // Between a host and its clients, anything else on `image` is a value.
  }
  m.what = prepared::kind::message;
  m.data = std::move(data);
  return m;
}

bool session::handle(protocol::receiver& to, prepared&& m) {
  switch (m.what) {
  case prepared::kind::nothing: return false;
  case prepared::kind::rejected: to.reject(m.error, std::move(m.detail)); return false;
  case prepared::kind::image: handle_image(to, std::move(m)); return false;
  case prepared::kind::message: break;
  }
  return handle_message(to, m.channel, std::move(m.data), m.wire_bytes);
}

bool session::handle_message(protocol::receiver& to, std::string& channel, value&& data,
                             std::size_t wire_bytes) {
  if (channel == channels::native) return handle_native(to, data);
  if (settings_.hub && channel == channels::ack) {
    to.images_acknowledged(1);
    return false;
  }
  if (bytes_hint_ && *bytes_hint_ == channel) {
    bytes_hint_.reset();
    if (!data.is_string()) {
      to.reject(errc::invalid_base64, "bytes value is not a string");
      return false;
    }
    const auto& text = data.get_ref<const std::string&>();
    value::binary_t::container_type bytes(base64::max_decoded_size(text.size()));
    auto n = base64::decode(text, bytes.data());
    if (!n) {
      to.reject(errc::invalid_base64, "bytes value is not base64");
      return false;
    }
    bytes.resize(*n);
    to.value_received(channel, value::binary(std::move(bytes)), wire_bytes);
    return false;
  }
  if (channel == channels::name_conn && data.is_string())
    to.peer_named(data.get_ref<const std::string&>());
  bool peer_closing = channel == channels::status && data.is_string() &&
                      data.get_ref<const std::string&>() == channels::closing;
  to.value_received(channel, std::move(data), wire_bytes);
  if (peer_closing) to.peer_closing();
  return false;
}

bool session::handle_native(protocol::receiver& to, const value& data) {
  // Never stored: these lines are the protocol's, not the application's.
  if (!data.is_object()) return false;
  if (auto bytes = data.find("bytes"); bytes != data.end()) {
    // The next value on this channel is bytes, sent as base64 before the
    // switch (see writer::append_value).
    if (bytes->is_string()) bytes_hint_ = bytes->get<std::string>();
    return false;
  }
  if (auto why = data.find("refuse"); why != data.end()) {
    // A peer with a token refuses this side (auth_options): it has none,
    // or another (docs/native-protocol.md, Authentication).
    auto code = why->is_string() ? why->get<std::string>() : std::string("?");
    to.fail(errc::unauthenticated,
            "the peer refused the connection: " +
                std::string(code == "token_required" ? "it requires a token, and this side has none"
                            : code == "bad_token"    ? "this side's token does not match its own"
                                                     : "\"" + code + "\"") +
                "; closing the connection");
    return false;
  }
  if (auto offer = data.find("offer"); offer != data.end()) {
    // A peer offering any version speaks version 1 at least.
    if (offered_ > 0 && offer->is_number_integer() && offer->get<std::int64_t>() >= 1)
      to.peer_offered();
    return false;
  }
  auto to_version = data.find("switch");
  if (to_version == data.end()) return false;
  if (offered_ == 0 || switched_) {
    // A peer switches only in answer to our offer, once.
    to.fail(errc::invalid_frame, "the peer switched to the native protocol unasked");
    return false;
  }
  if (!to_version->is_number_integer() || to_version->get<std::int64_t>() != offered_) {
    to.fail(errc::invalid_frame, "the peer switched to native protocol version " +
                                     to_version->dump() + ", not " + std::to_string(offered_));
    return false;
  }
  return true;
}

void session::handle_image(protocol::receiver& to, prepared&& m) {
  // Host/client images were counted as the value on `image`.
  if (!settings_.hub) to.value_received(m.channel, std::move(m.data), m.wire_bytes);
  // Acknowledged whether or not it decodes: the sender waits for this
  // before its next frame, and one bad frame must not stall the stream.
  // The PNG is decoded off the I/O thread: inflating a flat image of a few
  // kilobytes can take a second. Between hubs it is acknowledged once
  // decoded.
  if (m.error) {
    if (settings_.hub) to.image_needs_ack(false);
    return to.reject(m.error, std::move(m.detail));
  }
  auto max_pixels = settings_.images.max_pixels;
  auto held = m.png.size();
  to.image_to_decode(
      [png = std::move(m.png), max_pixels](std::error_code& e, std::string& d) {
        return decode_image_png(png, max_pixels, e, d);
      },
      held, /*counted=*/settings_.hub, /*acknowledge=*/settings_.hub);
}

} // namespace socketengine::detail::legacy
