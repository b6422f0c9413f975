#pragma once
// Token authentication's arithmetic: each side proves to the other that it
// holds the token, without the token crossing the wire. Each side sends a
// fresh random nonce; each answers the other's with
//
//   HMAC-SHA256(key = token, "socketengine-auth-v1" || role || verifier's nonce || prover's nonce)
//
// where role is 'D' when the prover dialled the connection and 'L' when it
// accepted it. The verifier computes the same and compares in constant
// time. A proof is good for one pair of nonces only, so a recorded one
// cannot be replayed. The role byte stops a peer from handing a side its
// own proof back on the same connection, and a side refuses a peer nonce
// it issued itself (nonce_registry) so that a peer cannot make it answer
// on one connection the challenge it faces on another.
//
// This authenticates the peer; it does not protect what follows (no
// encryption, no integrity): that is TLS's job.
//
// Threading: prove and matches from any thread; nonce_registry is
// thread-safe.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string_view>

#include "protocol/auth/secret.hpp"

namespace socketengine::detail::auth {

inline constexpr std::size_t nonce_size = 16;
inline constexpr std::size_t proof_size = 32;
using nonce = std::array<std::uint8_t, nonce_size>;
using proof = std::array<std::uint8_t, proof_size>;

/// What the proving side did: dialled the connection or accepted it.
enum class role : std::uint8_t { dialler = 'D', listener = 'L' };

/// The text every proof starts with: a version for the scheme.
inline constexpr std::string_view proof_label = "socketengine-auth-v1";

/// The proof that the side in `r` holding `token` answers the verifier's
/// nonce with, having sent `prover` itself.
/// \throws std::runtime_error if the HMAC cannot be computed (OpenSSL).
proof prove(const secret& token, role r, const nonce& verifier, const nonce& prover);

/// Whether `received` is `expected`, in a time that does not depend on
/// where they differ (CRYPTO_memcmp), so that a peer cannot learn a proof
/// byte by byte from how fast it is refused.
[[nodiscard]] bool matches(const proof& expected, std::span<const std::uint8_t> received) noexcept;

/// The nonces an engine issued lately, so that it can refuse one coming
/// back from a peer (see above). Each is kept for `keep`, and at most
/// `capacity` are kept (the oldest forgotten first).
class nonce_registry {
public:
  explicit nonce_registry(std::chrono::milliseconds keep, std::size_t capacity = 65536);

  /// A fresh random nonce, remembered.
  /// \throws std::runtime_error if the system has no randomness to give.
  nonce issue();

  /// Whether `n` is one this engine issued within the keep time.
  [[nodiscard]] bool issued(const nonce& n) const;

private:
  using clock = std::chrono::steady_clock;
  void forget_old(clock::time_point now) const;

  std::chrono::milliseconds keep_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  mutable std::deque<std::pair<clock::time_point, nonce>> recent_; // oldest first
};

} // namespace socketengine::detail::auth
