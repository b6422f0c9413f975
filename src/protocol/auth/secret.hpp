#pragma once
// The shared token of token authentication (auth_options), read once when
// an engine is made. The bytes never leave this object but as the key of
// an HMAC (see handshake.hpp), never appear in a message, and are wiped
// when the last connection lets go of them.
//
// Threading: immutable once made; any thread.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace socketengine::detail::auth {

class secret {
public:
  explicit secret(std::string bytes) noexcept : bytes_(std::move(bytes)) {}
  ~secret();
  secret(const secret&) = delete;
  secret& operator=(const secret&) = delete;

  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return {reinterpret_cast<const std::uint8_t*>(bytes_.data()), bytes_.size()};
  }

private:
  std::string bytes_;
};

/// Where a token comes from: the token itself, a file holding it, or an
/// environment variable holding it; at most one of the three.
struct token_source {
  std::string_view token{};
  std::string_view file{};
  std::string_view env{};
};

/// Most bytes a token file may hold.
inline constexpr std::size_t max_token_bytes = 4096;

/// The token `from` names, or null when it names none. A file's or a
/// variable's one trailing newline (`\n` or `\r\n`) is not part of the
/// token, so `echo TOKEN > file` works. `who` ("hub") starts messages.
/// \throws std::invalid_argument naming the option: more than one source,
///         an empty token, file or variable, a variable that is not set, a
///         file larger than max_token_bytes;
///         std::system_error: a file that cannot be read (naming the path).
///         No message contains the token.
std::shared_ptr<const secret> resolve_token(const token_source& from, std::string_view who);

} // namespace socketengine::detail::auth
