#pragma once
// Unix domain sockets: streams between processes of one machine, named by
// a path in the filesystem. An endpoint is "unix:PATH", for example
// "unix:/run/robot.sock" (PATH may be relative to the working directory).

#include "transport/transports.hpp"

namespace socketengine::detail::transport::unix_socket {

/// Listens on a socket file: replaces a stale one left by a dead process,
/// refuses a live one (another listener answers there) and any other kind
/// of file, applies listen_request::file_mode, and removes the file on
/// close. Dials a path, retrying while nobody listens there yet.
extern const transport_ops ops;

} // namespace socketengine::detail::transport::unix_socket
