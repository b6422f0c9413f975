#pragma once
// The first reader of a connection whose engine has a token (auth_options):
// the handshake of token authentication, in legacy lines on `__native`
// (docs/native-protocol.md, Authentication). Each side greets with a hello
// carrying a fresh nonce (and its offer of the native protocol); on the
// peer's hello this reader has the connection send its proof; on the
// peer's proof, checked in constant time, the connection opens and the
// legacy reader takes over with whatever came after it (rest()).
//
// Before that nothing reaches the receiver but the handshake's own calls
// (handshake_reply, peer_authenticated, refuse, fail): nothing is stored
// and no callback runs. Lines are at most auth_line_bytes long, so a peer
// that has not authenticated holds at most a few KiB.
//
// A peer that sends anything else first is a socket.engine 0.3 peer (or
// one without a token): refused, or with allow_legacy admitted as it is,
// its first line read again by the legacy reader.
//
// Threading: the I/O thread only.

#include <optional>
#include <string>

#include "protocol/auth/handshake.hpp"
#include "protocol/legacy/line_reader.hpp"
#include "protocol/reader.hpp"
#include "protocol/settings.hpp"

namespace socketengine::detail::auth {

/// The longest handshake line a peer may send (a hello is under 100 bytes).
inline constexpr std::size_t auth_line_bytes = 4096;

class reader final : public protocol::reader {
public:
  /// `me`: whether this side dialled or accepted; `mine`: the nonce its
  /// hello carried. `s` must hold a token and a nonce registry.
  reader(const protocol::settings& s, role me, const nonce& mine);

  std::span<char> prepare() override { return lines_.prepare(); }
  void commit(std::size_t n) noexcept override { lines_.commit(n); }
  /// outcome::switched once the peer is admitted (see rest()), or stopped.
  outcome consume(protocol::receiver& to) override;
  /// After the peer is admitted: the bytes for the legacy reader.
  [[nodiscard]] std::string_view rest() const noexcept override { return rest_; }
  [[nodiscard]] std::size_t pending() const noexcept override { return lines_.pending(); }
  void release_if_idle() noexcept override { lines_.shrink_if_idle(); }
  void release() noexcept override { lines_.release(); }

  /// Whether the peer has been admitted.
  [[nodiscard]] bool admitted() const noexcept { return state_ == state::admitted; }

  /// The time to authenticate is up: with allow_legacy a peer that said
  /// nothing yet is admitted as a legacy peer (outcome::switched), and
  /// otherwise the connection fails (errc::not_identified).
  outcome deadline_passed(protocol::receiver& to, std::string detail);

private:
  enum class state { hello, proof, admitted, done };

  // Each returns whether consume() stops at this line.
  bool on_line(protocol::receiver& to, std::string_view line);
  bool on_hello(protocol::receiver& to, const value& data);
  bool on_proof(protocol::receiver& to, const value& data);
  bool admit_legacy(protocol::receiver& to, std::string_view unread);
  bool refuse(protocol::receiver& to, std::string_view code, std::string detail);

  const protocol::settings& settings_;
  role me_;
  nonce mine_;
  nonce theirs_{};
  bool offers_native_ = false;
  state state_ = state::hello;
  legacy::line_reader lines_;
  std::string name_line_; // a 0.3 hub's `__name_conn`, kept for allow_legacy
  std::string rest_;
};

} // namespace socketengine::detail::auth
