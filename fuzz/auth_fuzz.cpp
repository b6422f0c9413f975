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
#include "reads.hpp"
#include "sink.hpp"

namespace socketengine::detail::protocol {
namespace {

settings auth_settings(bool allow_legacy) {
  settings s;
  s.hub = true;
  s.offer_native = true;
  s.limits.max_line_bytes = 1 << 16;
  s.limits.max_depth = 16;
  s.limits.max_channels = 64;
  s.images.max_pixels = 1 << 16;
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
  sink to;
  struct current_reader {
    std::unique_ptr<reader> r;
    std::span<char> prepare() { return r->prepare(); }
    void commit(std::size_t n) { r->commit(n); }
  } in{std::make_unique<auth::reader>(protocols.settings(), auth::role::listener,
                                      fuzz_listener_nonce())};
  bool handshaking = true;
  auto consume = [&] {
    while (to.open()) {
      switch (in.r->consume(to)) {
      case reader::outcome::more: return true;
      case reader::outcome::stopped: return false;
      case reader::outcome::switched:
        // The handshake hands on to the legacy reader, that to the native.
        in.r = handshaking ? protocols.reader_after_auth(in.r->rest())
                           : protocols.reader_after_switch(in.r->rest());
        handshaking = false;
        break;
      case reader::outcome::paused:
        if (auto work = in.r->take_work()) work();
        break;
      }
    }
    return false;
  };
  try {
    socketengine::fuzz::feed(in, socketengine::fuzz::split_input(data, size), consume);
  } catch (const std::bad_alloc&) {
    // Refused to allocate past a bound: the connection would close.
  }
  return 0;
}
