#include "protocol/auth/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace socketengine::detail::auth {

proof prove(const secret& token, role r, const nonce& verifier, const nonce& prover) {
  std::array<std::uint8_t, proof_label.size() + 1 + 2 * nonce_size> message{};
  auto* at = std::copy(proof_label.begin(), proof_label.end(), message.data());
  *at++ = static_cast<std::uint8_t>(r);
  at = std::copy(verifier.begin(), verifier.end(), at);
  std::copy(prover.begin(), prover.end(), at);

  proof out{};
  unsigned int size = 0;
  auto key = token.bytes();
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(),
           message.size(), out.data(), &size) == nullptr ||
      size != out.size())
    throw std::runtime_error("socketengine: HMAC-SHA256 failed (OpenSSL)");
  return out;
}

bool matches(const proof& expected, std::span<const std::uint8_t> received) noexcept {
  // The size is no secret; the bytes are compared in constant time.
  return received.size() == expected.size() &&
         CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

nonce_registry::nonce_registry(std::chrono::milliseconds keep, std::size_t capacity)
    : keep_(keep), capacity_(std::max<std::size_t>(capacity, 1)) {}

nonce nonce_registry::issue() {
  nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1)
    throw std::runtime_error("socketengine: no randomness for an authentication nonce (OpenSSL)");
  auto now = clock::now();
  std::lock_guard lk(mu_);
  forget_old(now);
  if (recent_.size() == capacity_) recent_.pop_front();
  recent_.emplace_back(now, n);
  return n;
}

bool nonce_registry::issued(const nonce& n) const {
  std::lock_guard lk(mu_);
  forget_old(clock::now());
  return std::any_of(recent_.begin(), recent_.end(), [&](const auto& r) { return r.second == n; });
}

void nonce_registry::forget_old(clock::time_point now) const {
  while (!recent_.empty() && now - recent_.front().first > keep_) recent_.pop_front();
}

} // namespace socketengine::detail::auth
