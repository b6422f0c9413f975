#pragma once
// TCP: the transport of socket.engine 0.3 and the default. An endpoint is a
// numeric IPv4 or IPv6 address, or a host name (resolved when dialling),
// and a port.

#include "transport/transports.hpp"

namespace socketengine::detail::transport::tcp {

/// Listens on `address` (numeric) at `port`, or at the first free port of
/// first..last; dials with TCP_NODELAY, retrying refused connections.
extern const transport_ops ops;

} // namespace socketengine::detail::transport::tcp
