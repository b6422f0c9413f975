#pragma once
// Certificates for TLS tests, made at test time with the `openssl` command
// (as a user makes them; the README's Security section shows the same
// commands): a CA, certificates it signed for a server and a client, and
// the ones a peer must refuse: signed by another CA, expired, naming
// another host.

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "support/temp_dir.hpp"

namespace socketengine::test {

class certificates {
public:
  certificates() {
    // EC keys: made in milliseconds, where RSA keys take a good part of a
    // second each. `openssl ca` is the one command that sets a certificate's
    // dates in the past, for the expired one.
    std::ofstream(dir_.file("ca.cnf")) << "[ca]\ndefault_ca = test\n"
                                          "[test]\ndatabase = index.txt\nnew_certs_dir = .\n"
                                          "serial = serial\ndefault_md = sha256\n"
                                          "policy = any\ncopy_extensions = copy\n"
                                          "[any]\ncommonName = supplied\n";
    std::string script = R"(set -e
cd ")" + dir_.file("") + R"("
: > index.txt; echo 01 > serial
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$1"; }
signed() { # name, CA, subjectAltName
  key "$1"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 30 -extfile "$1.ext"
}
ca ca
ca other_ca
signed server ca "IP:127.0.0.1,IP:::1,DNS:localhost"
signed client ca "DNS:client"
signed stranger other_ca "IP:127.0.0.1,DNS:localhost"
signed elsewhere ca "DNS:elsewhere.example,IP:10.9.9.9"
key expired
openssl req -new -key expired.key -out expired.csr -subj "/CN=expired" \
  -addext "subjectAltName=IP:127.0.0.1"
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
  -out expired.pem -startdate 20200101000000Z -enddate 20210101000000Z -notext
)";
    std::string command = "bash -c '" + escape(script) + "' > " + dir_.file("openssl.log") + " 2>&1";
    if (std::system(command.c_str()) != 0)
      throw std::runtime_error("making test certificates failed: see " + dir_.file("openssl.log"));
  }

  /// `name`.pem, the certificate (ca, other_ca, server, client, stranger,
  /// elsewhere, expired).
  [[nodiscard]] std::string cert(const std::string& name) const { return dir_.file(name + ".pem"); }
  /// `name`.key, its private key.
  [[nodiscard]] std::string key(const std::string& name) const { return dir_.file(name + ".key"); }

private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }

  temp_dir dir_;
};

} // namespace socketengine::test
