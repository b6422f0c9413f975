#pragma once
/// \file hub.hpp
/// A hub both listens for peers and dials named peers (seed `hub`).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/discovery.hpp>
#include <socketengine/engine.hpp>
#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

namespace socketengine {

/// A hub: listens on a port and accepts peers (remote connections), and dials
/// named peers with `connect` (local connections). Every connection keeps the
/// latest value per channel.
///
/// "local" and "remote" mean the same for readers and writers: local
/// connections are the ones this hub dialled, remote ones those it accepted.
/// (The Python 0.3.0 package swapped the meaning for `write_to_local` and
/// `write_to_remote`; socketengine does not.)
class hub : public engine {
public:
  /// Starts listening (on TCP unless `options.listen` is false, and on
  /// `options.listen_on`) and starts the I/O thread; with a name, answers
  /// discovery (see discovery_options).
  /// \throws std::system_error naming the port when an explicit port is in
  ///         use, or when none of 8080..8179 is free if no port was given;
  ///         naming the endpoint when one of listen_on cannot be listened on
  ///         (std::errc::address_in_use: another process listens there);
  ///         std::invalid_argument or std::system_error for auth or TLS
  ///         options that cannot work (see auth_options, tls_options);
  ///         std::invalid_argument for a name that is not 1 to 255 bytes
  ///         of UTF-8 without control characters. Discovery that cannot
  ///         start (its UDP port taken by another program, say) throws
  ///         nothing: the error handler is told, and the hub goes on.
  explicit hub(hub_options options = {});

  /// Closes the hub (see engine::close).
  ~hub();

  /// The TCP port the hub listens on; 0 for a hub without a TCP listener.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// This hub's name (hub_options::name); empty if it has none.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// This hub's id: 32 hex digits, new for each hub made, as discovery
  /// gives it (discovered_hub::id).
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

  /// Whether this hub answers discovery: it has a name, listens on TCP,
  /// and discovery is not switched off (discovery_options::enabled,
  /// SOCKETENGINE_DISCOVERY).
  [[nodiscard]] bool discoverable() const noexcept { return discoverable_; }

  /// Listens on `endpoint` too, as if it were in hub_options::listen_on,
  /// with hub_options::socket_file_mode, and accepts peers there at once.
  /// \throws std::system_error naming the endpoint (std::errc::address_in_use:
  ///         another process listens there); errc::engine_closed after
  ///         close().
  void listen(std::string_view endpoint);

  /// As above, with this socket file's permission bits (see
  /// hub_options::socket_file_mode).
  void listen(std::string_view endpoint, std::uint32_t socket_file_mode);

  /// Dials `address`:`port` (or `address` alone for a `unix:PATH` endpoint:
  /// see hub_options), names the connection `name` and sends the name to
  /// the peer (`__name_conn`). Blocks until connected; retries while nobody
  /// listens there (a refused connection, a socket file not made yet), for
  /// up to hub_options::connect_timeout (0 or less: one attempt). A host name
  /// is resolved first; a resolution in progress cannot be interrupted, so
  /// close() may wait for it.
  /// With a token (hub_options::auth), returns once the peer has
  /// authenticated too, which may take up to auth_options::timeout more.
  /// \returns the new connection, already listed in connections().
  /// \throws std::system_error errc::connect_timeout, a resolver or socket
  ///         error, errc::engine_closed; with a token, errc::unauthenticated
  ///         (the peer refused this side, or failed to prove its token) or
  ///         errc::not_identified (no handshake in time); with TLS, an error
  ///         in tls_category() (the peer's certificate refused, or the
  ///         handshake failed, with OpenSSL's reason) or std::errc::timed_out
  ///         (no handshake within tls_options::handshake_timeout).
  std::shared_ptr<connection> connect(std::string_view name, std::string_view address,
                                      std::uint16_t port);

  /// As above, reporting failure in `ec` and returning null.
  std::shared_ptr<connection> connect(std::string_view name, std::string_view address,
                                      std::uint16_t port, std::error_code& ec);

  /// As connect(name, address, port, ec), calling `keep_waiting` on the
  /// calling thread about every 50 ms while the connection is being made.
  /// When it returns false the attempt is abandoned: null is returned and
  /// `ec` is std::errc::operation_canceled. For callers that must stay
  /// responsive during a long connect: a language binding that checks for
  /// Ctrl-C, a program with its own deadline or stop flag. `keep_waiting`
  /// must not call this hub's close().
  std::shared_ptr<connection> connect(std::string_view name, std::string_view address,
                                      std::uint16_t port, std::error_code& ec,
                                      const std::function<bool()>& keep_waiting);

  /// Dials an endpoint that carries no port, such as
  /// `"unix:/run/robot.sock"`; otherwise as connect(name, address, port).
  std::shared_ptr<connection> connect(std::string_view name, std::string_view endpoint);

  /// As above, reporting failure in `ec` and returning null.
  std::shared_ptr<connection> connect(std::string_view name, std::string_view endpoint,
                                      std::error_code& ec);

  /// Finds the hub named `name` on the network (see discover_options: the
  /// multicast group, listed peers) and dials it as connect(name, address,
  /// port) would: every address it answered with at once, each given
  /// options.attempt_timeout; the first to connect is kept, and redialled
  /// if its link is lost. Blocks for at most options.timeout waiting for
  /// an answer plus attempt_timeout (plus authentication, as connect).
  /// `options.name` is ignored. Any thread.
  /// \returns the new connection, already listed in connections().
  /// \throws std::system_error errc::hub_not_found (no answer in time), or
  ///         the last address's error when none could be reached (as
  ///         connect); std::invalid_argument as discover().
  std::shared_ptr<connection> connect_by_name(std::string_view name,
                                              const discover_options& options = {});

  /// As above, reporting failure in `ec` and returning null (invalid
  /// options still throw std::invalid_argument).
  std::shared_ptr<connection> connect_by_name(std::string_view name, std::error_code& ec,
                                              const discover_options& options = {});

  /// Seed `getConnections()`: the same as connections().
  [[nodiscard]] std::vector<std::shared_ptr<connection>> get_connections() const {
    return connections();
  }

  /// The last value on `channel` of every connection that has one, in the
  /// order the connections were made; empty when none has.
  [[nodiscard]] std::vector<value> get_all(std::string_view channel) const;
  /// As get_all, over the connections named `name`.
  [[nodiscard]] std::vector<value> get_by_name(std::string_view name,
                                               std::string_view channel) const;
  /// As get_all, over local connections (dialled by this hub).
  [[nodiscard]] std::vector<value> get_local(std::string_view channel) const;
  /// As get_all, over remote connections (accepted by this hub).
  [[nodiscard]] std::vector<value> get_remote(std::string_view channel) const;

  /// Waits until some connection has a value on `channel` (at once if one
  /// has) and returns get_all(channel); empty on timeout or close.
  [[nodiscard]] std::vector<value> wait_for(std::string_view channel,
                                            std::chrono::milliseconds timeout) const;

  /// Writes to every open connection. Returns how many accepted the message;
  /// a connection that fails (closed, queue full) is skipped. The message is
  /// encoded once. A peer that does not keep up never delays the others,
  /// except under overflow_policy::block, where a full connection is waited
  /// for (up to the timeout) before the next one is written.
  /// \throws std::system_error errc::invalid_utf8 if the channel or a string
  ///         in `v` is not valid UTF-8 (then no connection is written).
  std::size_t write_all(std::string_view channel, const value& v);
  /// Writes to every open connection named `name`; returns how many accepted it.
  std::size_t write_to_name(std::string_view name, std::string_view channel, const value& v);
  /// Writes to every open local connection; returns how many accepted it.
  std::size_t write_to_local(std::string_view channel, const value& v);
  /// Writes to every open remote connection; returns how many accepted it.
  std::size_t write_to_remote(std::string_view channel, const value& v);

  /// Seed `write_image_all`: encodes `img` once and writes it to every open
  /// connection as connection::write_image does. Returns how many
  /// connections took it (sent now, or kept as their pending frame);
  /// connections with an image in flight and latest_frame_wins off skip it.
  /// \throws std::invalid_argument for an empty image; std::runtime_error if
  ///         the PNG encoder fails; std::bad_alloc.
  std::size_t write_image_all(const image& img);
  /// As write_image_all, to the open connections named `name`.
  std::size_t write_image_to_name(std::string_view name, const image& img);
  /// As write_image_all, to the open local connections.
  std::size_t write_image_to_local(const image& img);
  /// As write_image_all, to the open remote connections.
  std::size_t write_image_to_remote(const image& img);

  /// As write_image_all(img), but raw frames to native peers carry the
  /// pixels of `img` itself, not a copy: one set of pixels serves every
  /// connection, each keeping a copy of `img` that shares them until its
  /// frame is written (see connection::write_image with share_pixels, and
  /// what the caller must leave alone meanwhile). Any thread.
  /// \throws as write_image_all(img).
  std::size_t write_image_all(const image& img, share_pixels_t);
  /// As write_image_all(img, share_pixels), to the open connections named `name`.
  std::size_t write_image_to_name(std::string_view name, const image& img, share_pixels_t);
  /// As write_image_all(img, share_pixels), to the open local connections.
  std::size_t write_image_to_local(const image& img, share_pixels_t);
  /// As write_image_all(img, share_pixels), to the open remote connections.
  std::size_t write_image_to_remote(const image& img, share_pixels_t);

private:
  std::optional<std::uint32_t> socket_file_mode_;
  std::string name_;
  std::string id_;
  bool discoverable_ = false;
};

} // namespace socketengine
