#pragma once
// What every socket of every transport needs from the operating system.

#include <system_error>

#include <socketengine/options.hpp>

namespace socketengine::detail::transport {

/// Asio reports OS errors in its own category, which does not compare equal
/// to std::errc conditions; users get them in std::system_category instead.
std::error_code portable(std::error_code ec);

/// Marks a descriptor close-on-exec. Asio does not, and a child process that
/// inherited the engine's sockets would keep its port bound and its peers
/// connected after close().
void set_cloexec(int fd) noexcept;

/// Turns on TCP keepalive and sets TCP_USER_TIMEOUT on a TCP socket, as
/// `o` says (see keepalive_options). Best effort: a system without one of
/// them still connects.
void tcp_keep_alive(int fd, const keepalive_options& o) noexcept;

} // namespace socketengine::detail::transport
