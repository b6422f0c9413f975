#pragma once
/// \file engine.hpp
/// What hubs, hosts and clients have in common: an I/O thread, a callback
/// thread, a list of connections, callbacks and waits.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/handlers.hpp>

namespace socketengine {

namespace detail {
class engine_core;
}

/// The base of hub, host and client. Each engine owns one I/O thread that
/// runs all its sockets and one callback thread that runs user callbacks
/// (see handlers.hpp). Not copyable or movable: connections refer to it.
///
/// Thread safety: every member function may be called from any thread,
/// including from the engine's own callbacks.
class engine {
public:
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Calls `handler` with every value that arrives on `channel`, on any
  /// connection. Several handlers may watch the same channel; they run in
  /// the order added.
  void on(std::string_view channel, message_handler handler);

  /// Calls `handler` with the channel and value of every message.
  void on_message(any_message_handler handler);

  /// Calls `handler` with every image that arrives, on any connection, once
  /// decoded (images that fail to decode go to the error handler instead).
  void on_image(image_handler handler);

  /// Calls `handler` for each new connection, once it is listed.
  void on_connect(connection_handler handler);

  /// Calls `handler` once for each connection that ends, whoever ended it.
  void on_disconnect(connection_handler handler);

  /// Calls `handler` each time a connection this engine dialled loses its
  /// link and starts redialling (see reconnect_options); the reason goes to
  /// the error handler just before. The disconnect handlers run only when
  /// it closes for good.
  void on_link_down(connection_handler handler);

  /// Calls `handler` each time such a connection's link is back, once the
  /// greeting is queued: writes from here go over the new link.
  void on_link_up(connection_handler handler);

  /// Replaces the error handler (see error_handler). Bad input, dropped
  /// callbacks and exceptions from callbacks are reported here.
  void on_error(error_handler handler);

  /// All connections, in the order they were made, closed ones included (up
  /// to limits::max_closed_connections of them).
  [[nodiscard]] std::vector<std::shared_ptr<connection>> connections() const;

  /// Waits until a connection is open and returns the oldest open one; null
  /// if `timeout` passes first or the engine closes.
  [[nodiscard]] std::shared_ptr<connection>
  wait_for_connection(std::chrono::milliseconds timeout) const;

  /// Waits until at least `count` connections are open. Returns false if
  /// `timeout` passes first or the engine closes.
  bool wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const;

  /// Changes the engine's timeout (see hub_options::timeout), seed
  /// `set_timeout(seconds)` in milliseconds.
  void set_timeout(std::chrono::milliseconds timeout);

  /// Closes every connection (flushing what was queued, for at most the
  /// engine's timeout; hub connections send `__status`/`__closing` first),
  /// stops listening and joins the I/O thread. Callbacks already queued
  /// still run; when called from a callback, the callback thread finishes
  /// after that callback returns. Idempotent; the destructor calls it.
  void close();

  /// True from construction until `close()`.
  [[nodiscard]] bool is_open() const noexcept;

protected:
  explicit engine(std::shared_ptr<detail::engine_core> core);
  ~engine();

  std::shared_ptr<detail::engine_core> core_;
};

} // namespace socketengine
