#pragma once
/// \file client.hpp
/// The dialling side of a host/client pair (seed `client`).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <optional>
#include <string_view>
#include <system_error>

#include <socketengine/connection.hpp>
#include <socketengine/engine.hpp>
#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

namespace socketengine {

/// A client: one connection to a host. Reading starts as soon as it is open.
class client : public engine {
public:
  /// Starts the I/O thread and, if `options.open`, connects (see open()).
  /// \throws std::system_error as open() does; std::invalid_argument or
  ///         std::system_error for auth or TLS options that cannot work (see
  ///         auth_options, tls_options).
  explicit client(client_options options = {});

  /// Closes the client (see engine::close).
  ~client();

  /// Connects to the host, retrying while refused for up to
  /// client_options::connect_timeout (seed `open()`, which retried forever).
  /// Does nothing while connected; after the host dropped the connection it
  /// connects again (a new connection()). With a token
  /// (client_options::auth), returns once the host has authenticated too.
  /// \throws std::system_error errc::connect_timeout, a resolver or socket
  ///         error, errc::engine_closed; with a token, errc::unauthenticated
  ///         or errc::not_identified; with TLS, an error in tls_category()
  ///         or std::errc::timed_out (see hub::connect).
  void open();

  /// As open(), calling `keep_waiting` on the calling thread about every
  /// 50 ms while the connection is being made; when it returns false the
  /// attempt is abandoned. For callers that must stay responsive (see
  /// hub::connect with `keep_waiting`). `keep_waiting` must not call close().
  /// \throws std::system_error as open(), or std::errc::operation_canceled.
  void open(const std::function<bool()>& keep_waiting);

  /// Seed `start()`: connects if not yet open. Reading already runs from the
  /// moment of connecting, so this is otherwise a no-op. Idempotent.
  client& start();

  /// The connection to the host; null before open().
  [[nodiscard]] std::shared_ptr<socketengine::connection> connection() const;

  /// The last value received on `channel`, or empty (seed `get`).
  [[nodiscard]] std::optional<value> get(std::string_view channel) const;

  /// Waits for a value on `channel` (see connection::wait_for).
  [[nodiscard]] std::optional<value> wait_for(std::string_view channel,
                                              std::chrono::milliseconds timeout) const;

  /// Seed `write` and `writeLock`: queues a message for the host.
  /// \throws std::system_error as connection::write; errc::not_connected
  ///         before open().
  void write(std::string_view channel, const value& v);

  /// As above, reporting failure in `ec`.
  void write(std::string_view channel, const value& v, std::error_code& ec) noexcept;

  /// Queues `bytes` for the host as a bytes value (see
  /// connection::write_bytes). Any thread.
  /// \throws std::system_error as connection::write_bytes; errc::not_connected
  ///         before open().
  void write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes);

  /// Seed `writeImg` and `writeImgLock`: sends `img` to the host on the
  /// `image` channel (see connection::write_image).
  /// \throws std::system_error errc::not_connected when not open;
  ///         std::invalid_argument for an empty image.
  image_status write_image(const image& img);

  /// As write_image(img), but a raw frame to a native host carries the
  /// pixels of `img` itself, not a copy, kept until the frame is written
  /// (see connection::write_image with share_pixels, and what the caller
  /// must leave alone meanwhile). Any thread. \throws as write_image(img).
  image_status write_image(const image& img, share_pixels_t);

  /// As write_image(img), with this frame in `encoding` for a native host
  /// instead of the engine's image_options::encoding (a legacy host gets
  /// PNG whatever this says). Any thread. \throws as write_image(img).
  image_status write_image(const image& img, image_encoding encoding);

  /// As write_image(img, share_pixels), with this frame in `encoding`.
  /// Any thread. \throws as write_image(img).
  image_status write_image(const image& img, image_encoding encoding, share_pixels_t);

  /// The last image received from the host, or empty.
  [[nodiscard]] std::optional<image> get_image() const;

  /// Waits for an image from the host (see connection::wait_for_image).
  [[nodiscard]] std::optional<image> wait_for_image(std::chrono::milliseconds timeout) const;

private:
  // The connection to write to. \throws errc::not_connected when not open.
  [[nodiscard]] std::shared_ptr<socketengine::connection> open_connection() const;

  std::mutex open_mu_;    // serialises open()
  mutable std::mutex mu_; // guards conn_
  std::string address_;
  std::uint16_t port_;
  std::shared_ptr<socketengine::connection> conn_;
};

} // namespace socketengine
