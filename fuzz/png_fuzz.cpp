// Fuzz target: PNG decoding (headers and pixels), with a pixel limit the
// fuzzer can reach.

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "image/png.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::error_code ec;
  std::string detail;
  (void)socketengine::detail::png::decode({data, size}, 1 << 20, ec, detail);
  return 0;
}
