#pragma once
// The accepting side of a transport: a bound endpoint that hands out a
// stream per peer. Made by a transport's listen function (see
// transports.hpp); used on the engine's I/O thread only. Its accept loop
// refers to it, so it is destroyed only once its io_context runs no more
// handlers (the engine keeps its listeners until it has joined its I/O
// thread).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "transport/stream.hpp"

namespace socketengine::detail::transport {

namespace tls {
class config;
}

/// Where to listen, as the engine's options say it.
struct listen_request {
  /// An endpoint: an IP address for TCP, or a transport's own form such as
  /// "unix:/run/robot.sock" (see transports.hpp).
  std::string address{};
  /// TCP: the port; empty: the first free one of first..last.
  std::optional<std::uint16_t> port{};
  std::uint16_t first = 8080;
  std::uint16_t last = 8179;
  /// Filesystem endpoints: the permission bits of the socket file (chmod);
  /// empty: as the process's umask makes them.
  std::optional<std::uint32_t> file_mode{};
  /// TLS for what is accepted (TCP); null: none.
  std::shared_ptr<const tls::config> tls{};
};

class listener {
public:
  using accepted_fn = std::function<void(std::unique_ptr<stream>)>;
  /// An accept failed (out of descriptors, say): the error and what failed.
  using failed_fn = std::function<void(std::error_code, const std::string&)>;

  virtual ~listener() = default;

  /// Accepts until close(), handing each new stream to `accepted`. A failed
  /// accept goes to `failed`, and accepting resumes a little later rather
  /// than spinning on an error that does not clear at once.
  virtual void start(accepted_fn accepted, failed_fn failed) = 0;

  /// Stops accepting and lets go of the endpoint (a filesystem endpoint's
  /// socket file is removed). Idempotent.
  virtual void close() noexcept = 0;

  /// The endpoint, as messages name it: "0.0.0.0 port 8080",
  /// "unix:/run/robot.sock".
  [[nodiscard]] virtual std::string name() const = 0;

  /// The port listened on; 0 for transports without ports.
  [[nodiscard]] virtual std::uint16_t port() const noexcept { return 0; }
};

} // namespace socketengine::detail::transport
