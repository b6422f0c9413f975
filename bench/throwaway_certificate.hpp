#pragma once
// A key and a self-signed certificate made for one run of socketengine-bench,
// for its cases over TLS.
//
// Made in-process with libcrypto rather than with the `openssl` command, as
// the tests make theirs: the bench is installed and run on the machine that
// will carry the links, which may have the library but not the command, and
// a benchmark should not depend on files shipped beside it either.

#include <string>

namespace bench {

/// Makes an EC P-256 key and a certificate for it, signed by that key,
/// valid for a day and naming `ip` (an IPv4 or IPv6 address) as its subject
/// alternative name, so that a peer dialling `ip` and trusting the
/// certificate as its CA verifies it as it would any other. Writes both as
/// PEM, the key unencrypted, to `certificate_file` and `private_key_file`
/// (replacing them). Throws std::runtime_error with OpenSSL's reason when
/// a step fails. Thread-safe (nothing shared).
void write_throwaway_certificate(const std::string& certificate_file,
                                 const std::string& private_key_file, const std::string& ip);

} // namespace bench
