#pragma once
// How the reader targets take their input: the first byte picks the size of
// each read (1 to 64 bytes), the rest is what arrives, so that messages
// straddle reads at every offset.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace socketengine::fuzz {

struct reads {
  std::size_t step;
  std::string_view bytes;
};

/// The read size and the bytes of a fuzz input; step 0 for an empty one.
inline reads split_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {0, {}};
  return {1 + std::size_t{data[0]} % 64, {reinterpret_cast<const char*>(data) + 1, size - 1}};
}

/// Copies `in` into `reader` (prepare, commit) a read at a time, as a
/// connection does, calling `after_read()` after each; stops when it
/// returns false.
template <class Reader, class After>
void feed(Reader& reader, reads in, After&& after_read) {
  while (!in.bytes.empty()) {
    auto space = reader.prepare();
    auto n = std::min({space.size(), in.bytes.size(), in.step});
    std::memcpy(space.data(), in.bytes.data(), n);
    reader.commit(n);
    in.bytes.remove_prefix(n);
    if (!after_read()) return;
  }
}

} // namespace socketengine::fuzz
