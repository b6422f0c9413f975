#include "protocol/legacy/writer.hpp"

#include <string>

#include "protocol/encoded.hpp"
#include "protocol/legacy/base64.hpp"
#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/line_codec.hpp"

namespace socketengine::detail::legacy {

void writer::append_value(std::string& out, std::string_view channel, const value& v) const {
  if (v.is_binary() && offered_ > 0) append_line(out, channels::native, value{{"bytes", channel}});
  append_line(out, channel, v);
}

void writer::append_bytes(std::string& out, std::string_view channel,
                          std::span<const std::uint8_t> bytes) const {
  append_value(out, channel,
               value::binary(value::binary_t::container_type(bytes.begin(), bytes.end())));
}

void writer::append_acks(std::string& out, std::uint32_t) const {
  append_line(out, channels::ack, std::string(channels::ack));
}

void writer::append_closing(std::string& out) const {
  if (settings_.hub) append_line(out, channels::status, std::string(channels::closing));
}

protocol::image_bytes writer::encode_image(protocol::encoded_image& img) const {
  const auto& png = img.png();
  auto line = std::make_shared<std::string>();
  append_image_line(*line, settings_.hub ? channels::image : channels::plain_image,
                    {reinterpret_cast<const std::uint8_t*>(png.data()), png.size()});
  return {std::move(line), {}};
}

void writer::append_greeting_name(std::string& out, std::string_view name) {
  append_line(out, channels::name_conn, std::string(name));
}

void writer::append_greeting(std::string& out, std::optional<std::string_view> name) const {
  if (name) append_greeting_name(out, *name);
  // The offer is a line that socket.engine 0.3 peers store as a value on a
  // channel nobody reads; a socketengine peer answers it by switching
  // (docs/native-protocol.md).
  if (offered_ > 0) append_line(out, channels::native, value{{"offer", offered_}});
}

namespace {
std::string base64_of(std::span<const std::uint8_t> bytes) {
  std::string s(base64::encoded_size(bytes.size()), '\0');
  base64::encode(bytes, s.data());
  return s;
}
} // namespace

void writer::append_hello(std::string& out, std::span<const std::uint8_t> nonce) const {
  value data{{"nonce", base64_of(nonce)}};
  if (offered_ > 0) data["offer"] = offered_;
  append_line(out, channels::native, data);
}

void writer::append_proof(std::string& out, std::span<const std::uint8_t> proof) {
  append_line(out, channels::native, value{{"auth", base64_of(proof)}});
}

void writer::append_refusal(std::string& out, std::string_view why) {
  append_line(out, channels::native, value{{"refuse", std::string(why)}});
}

void writer::append_switch(std::string& out) const {
  append_line(out, channels::native, value{{"switch", offered_}});
}

} // namespace socketengine::detail::legacy
