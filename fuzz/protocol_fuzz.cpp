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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace socketengine::detail::protocol;
  static const suite protocols(fuzz_settings());
  feed_connection(protocols, protocols.first_reader(), /*handshaking=*/false, data, size);
  return 0;
}
