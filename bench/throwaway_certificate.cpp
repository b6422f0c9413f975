// See throwaway_certificate.hpp.

#include "throwaway_certificate.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>

namespace bench {

namespace {

template <auto Free>
struct freer {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
template <class T, auto Free>
using owned = std::unique_ptr<T, freer<Free>>;

// Throws for the step `what`, with the reason OpenSSL queued for it.
[[noreturn]] void fail(const std::string& what) {
  std::string why = "throwaway certificate: " + what;
  if (const auto code = ERR_get_error(); code != 0) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    why += ": ";
    why += reason;
  }
  ERR_clear_error();
  throw std::runtime_error(why);
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

template <class T, class Write>
void write_pem(const std::string& file, const T* object, Write write) {
  owned<BIO, BIO_free_all> out(BIO_new_file(file.c_str(), "w"));
  if (!out) fail("cannot open " + file);
  if (write(out.get(), object) != 1) fail("cannot write " + file);
}

} // namespace

void write_throwaway_certificate(const std::string& certificate_file,
                                 const std::string& private_key_file, const std::string& ip) {
  owned<EVP_PKEY, EVP_PKEY_free> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("making an EC P-256 key");

  owned<X509, X509_free> cert(X509_new());
  if (!cert) fail("X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3), "setting the version");
  // A random serial: certificates of earlier runs, should a peer have seen
  // one, never share issuer and serial with this one.
  std::uint64_t serial = 0;
  check(RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial), "RAND_bytes");
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1), "the serial");
  // From an hour ago, should the clock step back during the run.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60L * 60) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 60 * 60))
    fail("setting the dates");
  check(X509_set_pubkey(cert.get(), key.get()), "setting the public key");

  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* common_name = reinterpret_cast<const unsigned char*>("socketengine-bench");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, common_name, -1, -1, 0),
        "setting the name");
  check(X509_set_issuer_name(cert.get(), name), "setting the issuer");

  // The address is what a dialling peer checks the certificate against;
  // the common name no longer counts for that.
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string alt_name = "IP:" + ip;
  owned<X509_EXTENSION, X509_EXTENSION_free> san(
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_subject_alt_name, alt_name.c_str()));
  if (!san) fail("making the subject alternative name " + alt_name);
  check(X509_add_ext(cert.get(), san.get(), -1), "adding the subject alternative name");

  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) fail("signing");

  write_pem(private_key_file, key.get(), [](BIO* out, const EVP_PKEY* k) {
    return PEM_write_bio_PrivateKey(out, k, nullptr, nullptr, 0, nullptr, nullptr);
  });
  write_pem(certificate_file, cert.get(),
            [](BIO* out, const X509* c) { return PEM_write_bio_X509(out, c); });
}

} // namespace bench
