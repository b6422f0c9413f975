#pragma once
// Certificates for TLS tests, made at test time with the `openssl` command
// by tests/support/make_certificates.sh (which the Python tests run too):
// a CA, certificates it signed for a server and a client, and the ones a
// peer must refuse: signed by another CA, expired, naming another host.

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "support/temp_dir.hpp"

namespace socketengine::test {

class certificates {
public:
  certificates() {
    std::string command = std::string("bash '") + SOCKETENGINE_MAKE_CERTIFICATES + "' '" +
                          dir_.file("") + "' > '" + dir_.file("openssl.log") + "' 2>&1";
    if (std::system(command.c_str()) != 0)
      throw std::runtime_error("making test certificates failed: see " + dir_.file("openssl.log"));
  }

  /// `name`.pem, the certificate (ca, other_ca, server, client, stranger,
  /// elsewhere, expired).
  [[nodiscard]] std::string cert(const std::string& name) const { return dir_.file(name + ".pem"); }
  /// `name`.key, its private key.
  [[nodiscard]] std::string key(const std::string& name) const { return dir_.file(name + ".key"); }

private:
  temp_dir dir_;
};

} // namespace socketengine::test
