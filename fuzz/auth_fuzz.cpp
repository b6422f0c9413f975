// Fuzz target: the input side of a connection whose engine has a token,
// from its first byte, which is what anyone who can reach the port can
// send: the handshake's reader (hellos, proofs, refusals, long lines, 0.3
// peers), then, once the peer is admitted, the legacy and native readers.
// This side's nonce is fixed and the token known, so that a seed with a
// valid proof authenticates and the fuzzer reaches what follows. The first
// byte picks the size of each read (reads.hpp) and, with its top bit,
// allow_legacy.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/auth/reader.hpp"
#include "protocol/suite.hpp"
#include "connection_input.hpp"

namespace socketengine::detail::protocol {
namespace {

settings auth_settings(bool allow_legacy) {
  settings s = fuzz_settings();
  s.token = std::make_shared<const auth::secret>(std::string(fuzz_token));
  s.allow_legacy = allow_legacy;
  s.nonces = std::make_shared<auth::nonce_registry>(std::chrono::seconds(10));
  return s;
}

} // namespace
} // namespace socketengine::detail::protocol

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace socketengine::detail;
  using namespace socketengine::detail::protocol;
  static const suite strict(auth_settings(false));
  static const suite lenient(auth_settings(true));
  const suite& protocols = size > 0 && (data[0] & 0x80) != 0 ? lenient : strict;
  feed_connection(protocols,
                  std::make_unique<auth::reader>(protocols.settings(), auth::role::listener,
                                                 fuzz_listener_nonce()),
                  /*handshaking=*/true, data, size);
  return 0;
}
