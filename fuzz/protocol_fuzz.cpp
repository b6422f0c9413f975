// Fuzz target: a connection's whole input side, as a hub reads it. The
// bytes go through the legacy reader (lines, JSON, reserved channels, the
// offer and the switch, base64 image lines) and, after a switch, the native
// reader (frames, control frames, images); every image handed out is
// decoded at once. The first byte picks the size of each read (reads.hpp).
// Nothing may crash, hang, leak or read outside its buffers, whatever the
// bytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/suite.hpp"
#include "connection_input.hpp"

namespace socketengine::detail::protocol {
namespace {

settings fuzz_settings() {
  settings s;
  s.hub = true;
  s.offer_native = true;
  // Small bounds, so that the fuzzer reaches them.
  s.limits.max_line_bytes = 1 << 16;
  s.limits.max_depth = 16;
  s.limits.max_channels = 64;
  s.images.max_pixels = 1 << 16;
  return s;
}

} // namespace
} // namespace socketengine::detail::protocol

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace socketengine::detail::protocol;
  static const suite protocols(fuzz_settings());
  feed_connection(protocols, protocols.first_reader(), /*handshaking=*/false, data, size);
  return 0;
}
