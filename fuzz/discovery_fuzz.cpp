// Fuzz target: the discovery datagrams. Any bytes, as a query or as an
// answer, are read or refused without throwing or reading out of bounds;
// whatever is read writes out and reads back the same.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "discovery/message.hpp"

using namespace socketengine::detail::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  if (auto q = parse_query(datagram)) {
    auto again = parse_query(encode(*q));
    if (!again || again->name != q->name) std::abort();
  }
  if (auto a = parse_answer(datagram)) {
    auto again = parse_answer(encode(*a));
    if (!again || again->name != a->name || again->id != a->id || again->port != a->port ||
        again->protocol != a->protocol || again->tls != a->tls || again->token != a->token ||
        again->addresses != a->addresses)
      std::abort();
  }
  return 0;
}
