#pragma once
// Where a transport is chosen: by the form of the endpoint a user wrote.
// Each transport folder fills one transport_ops (as nng's transports fill
// an ops table) and transports.cpp lists it; nothing else names it.

#include <asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "transport/dialer.hpp"
#include "transport/listener.hpp"

namespace socketengine::detail::transport {

/// Where to dial, as the engine's options say it.
struct dial_request {
  std::string_view address;
  std::uint16_t port = 0; ///< for transports with ports
  /// TLS for the connection (TCP); null: none.
  std::shared_ptr<const tls::config> tls{};
};

struct transport_ops {
  /// The prefix of the endpoints it serves, such as "unix:"; empty for the
  /// default (TCP), which serves whatever no other transport claims.
  std::string_view scheme;

  /// Binds and listens. On failure returns null, with `ec` set and `what`
  /// saying which endpoint failed and why, for the caller's exception.
  std::unique_ptr<listener> (*listen)(asio::io_context& io, const listen_request& request,
                                      std::error_code& ec, std::string& what);

  /// A dialer for the request's address (and port, where the transport has
  /// ports). On a malformed address returns null with `ec` set.
  std::unique_ptr<dialer> (*dial)(asio::io_context& io, const dial_request& request,
                                  std::error_code& ec);
};

/// The transport that serves `address`.
[[nodiscard]] const transport_ops& transport_for(std::string_view address) noexcept;

} // namespace socketengine::detail::transport
