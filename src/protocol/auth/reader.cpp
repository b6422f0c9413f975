#include "protocol/auth/reader.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <socketengine/error.hpp>

#include "protocol/legacy/base64.hpp"
#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/line_codec.hpp"
#include "protocol/legacy/writer.hpp"

namespace socketengine::detail::auth {

namespace channels = legacy::channels;

namespace {

// The bytes of a base64 string field of `data` if it decodes to exactly
// `size` bytes.
template <std::size_t Size>
std::optional<std::array<std::uint8_t, Size>> field_bytes(const value& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return std::nullopt;
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() != legacy::base64::encoded_size(Size)) return std::nullopt;
  std::array<std::uint8_t, legacy::base64::max_decoded_size(legacy::base64::encoded_size(Size))>
      buf{};
  auto n = legacy::base64::decode(text, buf.data());
  if (!n || *n != Size) return std::nullopt;
  std::array<std::uint8_t, Size> out{};
  std::copy_n(buf.begin(), Size, out.begin());
  return out;
}

role other(role r) { return r == role::dialler ? role::listener : role::dialler; }

} // namespace

reader::reader(const protocol::settings& s, role me, const nonce& mine)
    : settings_(s), me_(me), mine_(mine),
      lines_(auth_line_bytes, auth_line_bytes, s.budget.get()) {}

protocol::reader::outcome reader::consume(protocol::receiver& to) {
  if (state_ == state::done) {
    // Refused and closing: what the peer still sends is dropped.
    lines_.release();
    return outcome::stopped;
  }
  if (state_ == state::hello && settings_.allow_legacy) {
    // A first line longer than any handshake line is a 0.3 peer's first
    // message (an image, say): admitted, the whole of it read again.
    auto held = lines_.rest();
    auto first = held.find('\n');
    if ((first == std::string_view::npos ? held.size() : first) > auth_line_bytes) {
      admit_legacy(to, {});
      return outcome::switched;
    }
  }
  bool fits = lines_.consume([&](std::string_view line) {
    if (on_line(to, line) || !to.open()) lines_.stop();
  });
  if (state_ == state::admitted) return outcome::switched;
  if (state_ == state::done || !to.open()) return outcome::stopped;
  if (!fits) {
    to.fail(errc::line_too_long, "a line longer than " + std::to_string(auth_line_bytes) +
                                     " bytes before authentication; closing the connection");
    state_ = state::done;
    return outcome::stopped;
  }
  return outcome::more;
}

protocol::reader::outcome reader::deadline_passed(protocol::receiver& to, std::string detail) {
  if (state_ == state::admitted) return outcome::switched;
  // A 0.3 peer may say nothing until it writes (a client), or only name
  // itself (a hub): with allow_legacy, admitted as it is.
  if (state_ == state::hello && settings_.allow_legacy) {
    admit_legacy(to, {});
    return outcome::switched;
  }
  state_ = state::done;
  to.fail(errc::not_identified, std::move(detail));
  return outcome::stopped;
}

bool reader::on_line(protocol::receiver& to, std::string_view line) {
  auto decoded = legacy::decode_line(line, settings_.limits.max_depth);
  if (decoded.what == legacy::decode_result::status::blank) return false;
  const auto& m = decoded.message;
  bool handshake = decoded.what == legacy::decode_result::status::message &&
                   m.channel == channels::native && m.data.is_object();
  if (handshake) {
    if (auto why = m.data.find("refuse"); why != m.data.end()) {
      // The peer refuses us: say why in its words, mapped to ours.
      auto code = why->is_string() ? why->get<std::string>() : std::string("?");
      std::string text = code == "bad_token"        ? "its token does not match this side's"
                         : code == "token_required" ? "it requires a token, and this side has "
                                                      "none it will accept"
                                                    : "for a reason it calls \"" + code + "\"";
      to.fail(errc::unauthenticated,
              "the peer refused the connection: " + text + "; closing the connection");
      state_ = state::done;
      return true;
    }
    if (state_ == state::hello) return on_hello(to, m.data);
    return on_proof(to, m.data);
  }
  if (state_ == state::hello && decoded.what == legacy::decode_result::status::message &&
      m.channel == channels::name_conn && m.data.is_string() && name_line_.empty() &&
      settings_.hub) {
    // A 0.3 hub's dial names itself first; kept for allow_legacy, never
    // stored before then.
    name_line_.assign(line);
    name_line_ += '\n';
    return false;
  }
  if (state_ == state::hello && settings_.allow_legacy)
    return admit_legacy(to, line);
  return refuse(to, "token_required",
                state_ == state::hello
                    ? "the peer sent data without authenticating (a socket.engine 0.3 peer, or "
                      "one that cannot authenticate; auth_options::allow_legacy admits such "
                      "peers); closing the connection"
                    : "the peer sent data before its proof; closing the connection");
}

bool reader::on_hello(protocol::receiver& to, const value& data) {
  auto peer = field_bytes<nonce_size>(data, "nonce");
  if (!peer) {
    if (data.contains("nonce"))
      return refuse(to, "bad_hello", "the peer's hello has a malformed nonce; closing the connection");
    // An offer without a nonce: a socketengine peer without a token. Any
    // other `__native` line before a hello is ignored, as ever.
    if (!data.contains("offer")) return false;
    return refuse(to, "token_required",
                  "the peer has no token (it offered the native protocol without a nonce); "
                  "closing the connection");
  }
  if (*peer == mine_ || settings_.nonces->issued(*peer))
    return refuse(to, "bad_hello",
                  "the peer's nonce is one this engine issued (a reflection attempt, or an "
                  "engine dialling itself); closing the connection");
  theirs_ = *peer;
  auto offer = data.find("offer");
  offers_native_ = offer != data.end() && offer->is_number_integer() &&
                   offer->get<std::int64_t>() >= 1;
  std::string line;
  legacy::writer::append_proof(line, prove(*settings_.token, me_, theirs_, mine_));
  to.handshake_reply(line);
  state_ = state::proof;
  return false;
}

bool reader::on_proof(protocol::receiver& to, const value& data) {
  auto it = data.find("auth");
  if (it == data.end()) {
    if (data.contains("nonce"))
      return refuse(to, "bad_hello", "the peer sent a second hello; closing the connection");
    return false; // another `__native` line: ignored, as ever
  }
  auto proof_bytes = field_bytes<proof_size>(data, "auth");
  auto expected = prove(*settings_.token, other(me_), mine_, theirs_);
  if (!proof_bytes || !matches(expected, *proof_bytes))
    return refuse(to, "bad_token",
                  "the peer's proof does not match this side's token (a wrong token); closing "
                  "the connection");
  state_ = state::admitted;
  rest_.assign(lines_.rest());
  to.peer_authenticated(/*legacy=*/false, offers_native_);
  return true;
}

bool reader::admit_legacy(protocol::receiver& to, std::string_view unread) {
  state_ = state::admitted;
  // The legacy reader reads again what this one held back: the name, the
  // line that told, and all after it.
  rest_ = name_line_;
  if (!unread.empty()) {
    rest_.append(unread);
    rest_ += '\n';
  }
  rest_.append(lines_.rest());
  to.peer_authenticated(/*legacy=*/true, /*offers_native=*/false);
  return true;
}

bool reader::refuse(protocol::receiver& to, std::string_view code, std::string detail) {
  std::string line;
  legacy::writer::append_refusal(line, code);
  state_ = state::done;
  to.refuse(line, std::move(detail));
  return true;
}

} // namespace socketengine::detail::auth
