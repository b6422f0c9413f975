#include "transport/transports.hpp"

#include "transport/tcp/tcp.hpp"
#include "transport/unix/unix.hpp"

namespace socketengine::detail::transport {

namespace {
// One line per transport. The first whose scheme begins the address serves
// it; TCP, with no scheme, comes last.
const transport_ops* const all[] = {
    &unix_socket::ops,
    &tcp::ops,
};
} // namespace

const transport_ops& transport_for(std::string_view address) noexcept {
  for (const auto* t : all)
    if (address.starts_with(t->scheme)) return *t;
  return tcp::ops;
}

} // namespace socketengine::detail::transport
