#pragma once
// The viewer's web server: one port serves the page and a WebSocket. Two
// protocols share the WebSocket, told apart by the subprotocol the client
// offers:
// - `socketengine.viewer.v1`, the page's own (docs/viewer.md);
// - `foxglove.websocket.v1`, Foxglove's open protocol, so that Foxglove and
//   Lichtblick can open a live system.
//
// HTTP and WebSocket come from Boost.Beast, on Boost.Asio. The engine runs
// on standalone Asio, whose types Beast cannot use, so the server runs an
// io_context and a thread of its own; the two meet only in the model, which
// has its own lock.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "model.hpp"

namespace socketengine::cli::viewer {

struct server_options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8765;           // Foxglove's default; 0: the system chooses
  std::size_t max_clients = 64;        // HTTP and WebSocket connections at once
  std::chrono::milliseconds write_timeout{10'000}; // a client that takes no data this long is cut off
  std::chrono::milliseconds handshake_timeout{10'000};
};

class server {
public:
  /// Listens on `o.bind`:`o.port` and starts serving on a thread of its own.
  /// \throws std::system_error if it cannot listen.
  server(model& m, server_options o);
  /// Closes every client and joins the thread.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The port it listens on.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Tells the server the model changed. Any thread; cheap when called often.
  void notify() noexcept;

  class impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace socketengine::cli::viewer
