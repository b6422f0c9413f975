#pragma once
// The dialling side of a transport: one way to reach one endpoint. Made by
// a transport's dialer function (see transports.hpp); dial.hpp retries it.
// Used on the engine's I/O thread only.

#include <functional>
#include <memory>
#include <system_error>

#include "transport/stream.hpp"

namespace socketengine::detail::transport {

class dialer {
public:
  /// A connected stream, or the error (in std::system_category) that ended
  /// the attempt.
  using done_fn = std::function<void(std::error_code, std::unique_ptr<stream>)>;

  virtual ~dialer() = default;

  /// Makes one attempt to connect and calls `done` with its outcome, on the
  /// I/O thread; after cancel(), with operation_aborted. At most one attempt
  /// at a time.
  virtual void async_connect(done_fn done) = 0;

  /// Ends the attempt under way, if any.
  virtual void cancel() noexcept = 0;

  /// True for an error that means nobody listens there yet (a refused TCP
  /// connection, a socket file not yet made), worth another attempt.
  [[nodiscard]] virtual bool worth_retrying(std::error_code ec) const noexcept = 0;
};

} // namespace socketengine::detail::transport
