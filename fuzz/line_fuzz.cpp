// Fuzz target: the legacy line reader and line decoding, in reads as
// reads.hpp says; every line found is decoded, and a line
// that decodes must encode and decode again to the same message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/legacy/line_codec.hpp"
#include "protocol/legacy/line_reader.hpp"
#include "reads.hpp"

using namespace socketengine::detail::legacy;

namespace {

void check_line(std::string_view line) {
  auto first = decode_line(line, 16);
  if (first.what != decode_result::status::message) return;
  std::string again;
  append_line(again, first.message.channel, first.message.data);
  again.pop_back(); // the '\n'
  auto second = decode_line(again, 16);
  if (second.what != decode_result::status::message ||
      second.message.channel != first.message.channel ||
      second.message.data.dump() != first.message.data.dump()) // as text: inf is null both times
    std::abort(); // a message that does not survive its own encoding
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  line_reader reader(1 << 16, 64);
  // Past the limit the connection would close.
  socketengine::fuzz::feed(reader, socketengine::fuzz::split_input(data, size),
                           [&] { return reader.consume(check_line); });
  return 0;
}
