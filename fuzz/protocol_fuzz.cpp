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
#include "reads.hpp"
#include "sink.hpp"

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
  sink to;
  // The reader of the moment: the legacy one, then the native one from
  // the switch on.
  struct current_reader {
    std::unique_ptr<reader> r;
    std::span<char> prepare() { return r->prepare(); }
    void commit(std::size_t n) { r->commit(n); }
  } in{protocols.first_reader()};
  auto consume = [&] {
    while (to.open()) {
      switch (in.r->consume(to)) {
      case reader::outcome::more: return true;
      case reader::outcome::stopped: return false;
      case reader::outcome::switched: // what came with the switch is the next reader's
        in.r = protocols.reader_after_switch(in.r->rest());
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
