#pragma once
/// \file host.hpp
/// The serving side of a host/client pair (seed `host`).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/engine.hpp>
#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

namespace socketengine {

/// A host: binds an address and port and serves any number of clients.
/// Unlike hub connections, host/client connections send no `__name_conn` and
/// no `__status`/`__closing`.
class host : public engine {
public:
  /// Starts the I/O thread and, if `options.open`, binds and listens.
  /// \throws std::system_error naming the address and port if it cannot bind;
  ///         std::invalid_argument or std::system_error for auth or TLS
  ///         options that cannot work (see auth_options, tls_options).
  explicit host(host_options options = {});

  /// Closes the host (see engine::close).
  ~host();

  /// Binds and listens (seed `open()`) on its address and on
  /// host_options::listen_on; does nothing if already open.
  /// \throws std::system_error naming the address and port (or endpoint) if
  ///         it cannot bind; errc::engine_closed after close() (a closed host
  ///         stays closed).
  void open();

  /// Starts accepting clients (seed `start()`); before it, clients wait in the
  /// listen backlog (with TLS, a client's open() waits for it too, for its
  /// handshake, up to tls_options::handshake_timeout). Opens first if
  /// needed. Idempotent.
  host& start();

  /// Listens on `endpoint` too, as if it were in host_options::listen_on
  /// (with host_options::socket_file_mode); once started, accepts clients
  /// there at once.
  /// \throws std::system_error naming the endpoint; errc::engine_closed after
  ///         close().
  void listen(std::string_view endpoint);

  /// As above, with this socket file's permission bits.
  void listen(std::string_view endpoint, std::uint32_t socket_file_mode);

  /// True once open() has bound the host's address.
  [[nodiscard]] bool listening() const noexcept;

  /// The TCP port bound (useful with port 0); 0 before `open()`, and for a
  /// host that listens on a `unix:` address.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// Seed `getClients()`: the connections of all clients, in the order they
  /// connected.
  [[nodiscard]] std::vector<std::shared_ptr<connection>> clients() const { return connections(); }

  /// Seed `get_ALL`: the last value on `channel` from every client that has
  /// one, in the order they connected; empty when none has.
  [[nodiscard]] std::vector<value> get_all(std::string_view channel) const;

  /// Waits until some client has a value on `channel` (at once if one has)
  /// and returns get_all(channel); empty on timeout or close. Clients that
  /// already disconnected count too.
  [[nodiscard]] std::vector<value> wait_for(std::string_view channel,
                                            std::chrono::milliseconds timeout) const;

  /// Seed `write_ALL` and `writeLock_ALL`: writes to every open client and
  /// returns how many accepted the message. (Every write is atomic per
  /// connection, so the seed's lock-taking variant needs no twin.)
  std::size_t write_all(std::string_view channel, const value& v);

  /// Seed `writeImg_ALL` and `writeImgLock_ALL`: encodes `img` once and
  /// writes it on the `image` channel to every open client, one image in
  /// flight per client (see connection::write_image). Returns how many
  /// clients took it.
  /// \throws std::invalid_argument for an empty image; std::runtime_error if
  ///         the PNG encoder fails; std::bad_alloc.
  std::size_t write_image_all(const image& img);

  /// As write_image_all(img), but raw frames to native clients carry the
  /// pixels of `img` itself, not a copy, which every client's connection
  /// keeps until its frame is written (see connection::write_image with
  /// share_pixels, and what the caller must leave alone meanwhile). Any
  /// thread. \throws as write_image_all(img).
  std::size_t write_image_all(const image& img, share_pixels_t);

private:
  std::mutex mu_; // serialises open()
  std::string address_;
  std::uint16_t port_;
  std::vector<std::string> listen_on_;
  std::optional<std::uint32_t> socket_file_mode_;
};

} // namespace socketengine
