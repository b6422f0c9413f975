// Fuzz target: the native frame reader and frame decoding, in reads as
// reads.hpp says; every frame found is parsed, its JSON or
// image payload decoded.

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <system_error>

#include "protocol/legacy/line_codec.hpp"
#include "protocol/native/frame_codec.hpp"
#include "protocol/native/frame_reader.hpp"
#include "reads.hpp"

using namespace socketengine::detail;

namespace {

void check_frame(std::span<const std::uint8_t> body, std::shared_ptr<const void> owner) {
  std::string detail;
  auto f = native::parse_frame(body, std::move(owner), detail);
  if (!f) return;
  std::error_code ec;
  if (f->kind == native::frame_kind::image) {
    (void)native::decode_image(*f, 1 << 16, ec, detail);
  } else if (f->kind == native::frame_kind::json) {
    socketengine::value v;
    (void)legacy::decode_value(
        std::string_view(reinterpret_cast<const char*>(f->payload.data()), f->payload.size()), 16,
        v, detail);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  native::frame_reader reader(1 << 16, 4096);
  try {
    // A bad size: the connection would close.
    socketengine::fuzz::feed(reader, socketengine::fuzz::split_input(data, size),
                             [&] { return reader.consume(check_frame); });
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
