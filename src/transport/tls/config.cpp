#include "transport/tls/config.hpp"

#include <asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <socketengine/error.hpp>

namespace socketengine::detail::transport::tls {

namespace {

// X509_V_ERR_ values are small; OpenSSL's packed error codes carry their
// library in bits 23 and up, so the two never meet in one category.
constexpr int verify_results_below = 65536;

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "socketengine.tls"; }
  std::string message(int ev) const override {
    if (ev > 0 && ev < verify_results_below)
      return std::string("certificate rejected: ") + X509_verify_cert_error_string(ev);
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ev));
    return reason ? reason : "TLS error " + std::to_string(static_cast<unsigned>(ev));
  }
};

[[noreturn]] void refuse(std::string_view who, const std::string& what) {
  throw std::invalid_argument("socketengine: " + std::string(who) + ": " + what);
}

// OpenSSL's report of a file it could not read says little ("system
// lib"); opening it first gives the user errno and the option's name.
void check_readable(const std::string& path, std::string_view option, std::string_view who) {
  std::ifstream in(path);
  if (!in)
    throw std::system_error(errno, std::generic_category(),
                            "socketengine: " + std::string(who) + ": cannot read " +
                                std::string(option) + " " + path);
}

std::string openssl_reason(const std::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category()
             ? openssl_error(static_cast<unsigned long>(ec.value())).message()
             : ec.message();
}

void load_identity(asio::ssl::context& ctx, const tls_options& o, std::string_view who) {
  check_readable(o.certificate_file, "tls.certificate_file", who);
  check_readable(o.private_key_file, "tls.private_key_file", who);
  std::error_code ec;
  ctx.use_certificate_chain_file(o.certificate_file, ec);
  if (ec)
    refuse(who, "tls.certificate_file " + o.certificate_file + " holds no PEM certificate (" +
                    openssl_reason(ec) + ")");
  ctx.use_private_key_file(o.private_key_file, asio::ssl::context::pem, ec);
  if (ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    refuse(who, "tls.private_key_file " + o.private_key_file +
                    " is not the key of tls.certificate_file " + o.certificate_file);
  if (ec)
    refuse(who, "tls.private_key_file " + o.private_key_file +
                    " holds no unencrypted PEM private key (" + openssl_reason(ec) + ")");
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    refuse(who, "tls.private_key_file " + o.private_key_file +
                    " is not the key of tls.certificate_file " + o.certificate_file);
  }
}

void load_trust(asio::ssl::context& ctx, const tls_options& o, std::string_view who) {
  std::error_code ec;
  if (o.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
    if (ec) refuse(who, "cannot load the system's certificate authorities (" +
                            openssl_reason(ec) + "); set tls.ca_file");
    return;
  }
  check_readable(o.ca_file, "tls.ca_file", who);
  ctx.load_verify_file(o.ca_file, ec);
  if (ec)
    refuse(who, "tls.ca_file " + o.ca_file + " holds no PEM certificate (" + openssl_reason(ec) +
                    ")");
}

std::unique_ptr<asio::ssl::context> make_context(asio::ssl::context::method m) {
  auto ctx = std::make_unique<asio::ssl::context>(m);
  // TLS 1.2 and 1.3 only: what is older has known breaks.
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
  return ctx;
}

} // namespace

config::config(const tls_options& o, std::string_view who, std::size_t max_handshakes)
    : verify_peer_(o.verify_peer), server_name_(o.server_name),
      handshake_timeout_(o.handshake_timeout), max_handshakes_(max_handshakes) {
  bool identity = !o.certificate_file.empty() || !o.private_key_file.empty();
  if (identity && (o.certificate_file.empty() || o.private_key_file.empty()))
    refuse(who, "set both tls.certificate_file and tls.private_key_file, or neither");
  if (o.handshake_timeout.count() <= 0) refuse(who, "tls.handshake_timeout must be positive");
  if (o.require_client_certificate && !identity)
    refuse(who, "tls.require_client_certificate needs tls.certificate_file to listen with");

  client_ = make_context(asio::ssl::context::tls_client);
  if (identity) load_identity(*client_, o, who); // presented when a listener asks
  if (o.verify_peer) {
    load_trust(*client_, o, who);
    client_->set_verify_mode(asio::ssl::verify_peer);
  } else {
    client_->set_verify_mode(asio::ssl::verify_none);
  }

  if (!identity) return;
  server_ = make_context(asio::ssl::context::tls_server);
  load_identity(*server_, o, who);
  if (o.require_client_certificate) {
    load_trust(*server_, o, who);
    server_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else {
    server_->set_verify_mode(asio::ssl::verify_none);
  }
}

std::shared_ptr<const config> make_config(const tls_options& o, std::string_view who,
                                          std::size_t max_handshakes) {
  if (o.enabled) return std::make_shared<const config>(o, who, max_handshakes);
  if (!o.certificate_file.empty() || !o.private_key_file.empty() || !o.ca_file.empty() ||
      !o.server_name.empty() || o.require_client_certificate)
    refuse(who, "TLS options are set but tls.enabled is false");
  return nullptr;
}

std::error_code openssl_error(unsigned long code) {
  return {static_cast<int>(code), tls_category()};
}

std::error_code certificate_error(long verify_result) {
  if (verify_result > 0 && verify_result < verify_results_below)
    return {static_cast<int>(verify_result), tls_category()};
  return openssl_error(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED));
}

} // namespace socketengine::detail::transport::tls

namespace socketengine {

const std::error_category& tls_category() noexcept {
  static const detail::transport::tls::category c;
  return c;
}

} // namespace socketengine
