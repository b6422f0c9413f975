#pragma once
// An engine's TLS, made once from its tls_options: the OpenSSL contexts its
// listeners and dialers make their sessions from, with every file read and
// checked up front, so that a configuration that cannot work fails in the
// engine's constructor rather than at the first peer.

#include <asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <socketengine/options.hpp>

namespace socketengine::detail::transport::tls {

class config {
public:
  /// Reads and checks what `o` names. `who` starts messages ("hub");
  /// `max_handshakes`: how many accepted handshakes may be in progress at
  /// once (limits::max_unidentified).
  /// \throws std::system_error (a file it cannot read) or
  /// std::invalid_argument (a file that holds no certificate or key, a key
  /// that does not match), naming the option and the file.
  config(const tls_options& o, std::string_view who, std::size_t max_handshakes);

  /// The context of accepted connections; null without a certificate.
  [[nodiscard]] asio::ssl::context* server() const noexcept { return server_.get(); }
  /// The context of dialled connections.
  [[nodiscard]] asio::ssl::context& client() const noexcept { return *client_; }

  [[nodiscard]] bool verify_peer() const noexcept { return verify_peer_; }
  /// tls_options::server_name; empty: the address dialled.
  [[nodiscard]] const std::string& server_name() const noexcept { return server_name_; }
  [[nodiscard]] std::chrono::milliseconds handshake_timeout() const noexcept {
    return handshake_timeout_;
  }
  [[nodiscard]] std::size_t max_handshakes() const noexcept { return max_handshakes_; }

private:
  std::unique_ptr<asio::ssl::context> server_;
  std::unique_ptr<asio::ssl::context> client_;
  bool verify_peer_;
  std::string server_name_;
  std::chrono::milliseconds handshake_timeout_;
  std::size_t max_handshakes_;
};

/// The engine's TLS as `o` says: null when not enabled.
/// \throws as config's constructor, and std::invalid_argument for TLS
/// options set while tls_options::enabled is false (which would otherwise
/// run plain TCP unnoticed).
std::shared_ptr<const config> make_config(const tls_options& o, std::string_view who,
                                          std::size_t max_handshakes);

/// An error from OpenSSL's error queue (ERR_get_error()), in
/// tls_category().
std::error_code openssl_error(unsigned long code);
/// A failed certificate check (an X509_V_ERR_ result), in tls_category().
std::error_code certificate_error(long verify_result);

} // namespace socketengine::detail::transport::tls
