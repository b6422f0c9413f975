#pragma once
/// \file connection.hpp
/// One TCP connection of a hub, host or client, with the latest value
/// received on each channel.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/image.hpp>
#include <socketengine/options.hpp>
#include <socketengine/value.hpp>

namespace socketengine {

/// Who made a connection (seed `TYPE_LOCAL` / `TYPE_REMOTE`).
enum class connection_kind : int {
  local = 1, ///< dialled by this side (`hub::connect`, a client)
  remote = 2 ///< accepted by this side's listener (a hub's or host's)
};

/// Where a connection is in its life (see connection::state).
enum class link_state : int {
  connected,    ///< the link is up
  reconnecting, ///< a dialled connection lost its link and is redialling
                ///< (reconnect_options); it still counts as open
  closing,      ///< close() or the engine's close is flushing it
  closed        ///< for good
};

/// Counters of one connection, as a snapshot.
struct connection_stats {
  std::uint64_t messages_in = 0;  ///< messages (lines or frames) stored, images included
  std::uint64_t messages_out = 0; ///< messages queued for sending
  std::uint64_t bytes_in = 0;     ///< bytes read from the socket
  std::uint64_t bytes_out = 0;    ///< bytes written to the socket
  std::uint64_t errors = 0;       ///< lines, frames and images dropped as bad input
  std::uint64_t conflated = 0;    ///< messages to the peer replaced by a newer one on their
                                  ///< channel while its queue was full (overflow_policy::conflate)
                                  ///< or while it was reconnecting
  std::uint64_t reconnects = 0;   ///< times its link came back (reconnect_options)
};

/// A connection between this engine and one peer.
///
/// Handed out as `std::shared_ptr<connection>` by hubs, hosts and clients;
/// a handle stays valid after the connection or its engine closes, and then
/// still answers `get()` with the last values received, `name()`, `address()`,
/// `stats()` and `close_reason()`; writes fail with errc::not_connected. (It
/// lets go of its last image, though: see get_image().)
///
/// A connection this side dialled redials by itself when its link is lost
/// (see reconnect_options) and stays the same object: state() says
/// link_state::reconnecting meanwhile, is_open() stays true, get() answers
/// with the last values (and version() and the waits keep counting across
/// links), write() keeps the latest value per channel and sends those once
/// the link is back, after the greeting, and write_image() drops frames
/// (image_status::dropped). Messages queued but not yet sent when the link
/// failed are lost with it, as on any broken TCP connection. The engine's
/// link-down and link-up handlers hear of each change.
///
/// Thread safety: every member function may be called from any thread,
/// including from callbacks.
class connection : public std::enable_shared_from_this<connection> {
public:
  using clock = std::chrono::steady_clock;

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// The last value received on `channel`, or empty if none has arrived.
  [[nodiscard]] std::optional<value> get(std::string_view channel) const;

  /// The last value on `channel` converted to T (via nlohmann::json's get),
  /// or empty if none arrived or it does not convert.
  template <class T>
  [[nodiscard]] std::optional<T> get_as(std::string_view channel) const {
    auto v = get(channel);
    if (!v) return std::nullopt;
    try {
      return v->template get<T>();
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;
    }
  }

  /// Waits until `channel` has a value (returning at once if it has one
  /// already) and returns it; empty if `timeout` passes first or the
  /// connection closes without one.
  [[nodiscard]] std::optional<value> wait_for(std::string_view channel,
                                              std::chrono::milliseconds timeout) const;

  /// Waits for a value on `channel` that arrives after this call, and returns
  /// it; empty on timeout or close. A reply that arrives before the call is
  /// missed: for request/response, take version() before sending the
  /// request and use the overload below.
  [[nodiscard]] std::optional<value> wait_for_next(std::string_view channel,
                                                   std::chrono::milliseconds timeout) const;

  /// Waits for a value on `channel` newer than `since` (a version() taken
  /// earlier) and returns it, at once if one has arrived already; empty on
  /// timeout or close.
  [[nodiscard]] std::optional<value> wait_for_next(std::string_view channel,
                                                   std::chrono::milliseconds timeout,
                                                   std::uint64_t since) const;

  /// The version of the last value on `channel`: a number that grows with
  /// every value this connection receives; 0 if none has arrived on it.
  [[nodiscard]] std::uint64_t version(std::string_view channel) const;

  /// Queues `{"type": channel, "data": v}` for sending and returns at once.
  /// When the write queue is full, the engine's overflow policy applies
  /// (see overflow_policy: by default the message is held as the latest on
  /// its channel, replacing an older one still held, and sent once the peer
  /// has caught up; or block up to the engine's timeout, or fail).
  /// \throws std::system_error errc::not_connected if closed or closing,
  ///         errc::queue_full if the policy refused it, errc::invalid_utf8 if
  ///         the channel or a string in `v` is not valid UTF-8.
  void write(std::string_view channel, const value& v);

  /// As above, but reports failure in `ec` instead of throwing.
  void write(std::string_view channel, const value& v, std::error_code& ec) noexcept;

  /// Sends `bytes` on `channel` as a bytes value: the peer's get() returns a
  /// binary value (value::binary_t) holding them. A native peer gets them as
  /// they are; a legacy peer, whose protocol has no bytes, gets them as a
  /// base64 string (standard alphabet, padded), as it gets images.
  /// \throws std::system_error as write().
  void write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes);

  /// As above, but reports failure in `ec` instead of throwing.
  void write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes,
                   std::error_code& ec) noexcept;

  /// Seed `writeImg`: encodes `img` on the calling thread and sends it. To a
  /// legacy peer as a PNG (image_options::png_compression) in one base64
  /// line, on `__image` to a hub peer and on `image` to a host or client; to
  /// a native peer as an image frame in image_options::encoding. The frame
  /// holds its own copy of the pixels (raw) or their encoding, so `img` may
  /// be written again as soon as this returns; write_image(img,
  /// share_pixels) sends raw pixels without that copy.
  ///
  /// To a legacy peer at most one image is in flight: to a hub peer, from
  /// sending until the peer's `__ack`; to a host or client, which do not
  /// acknowledge, until the line has been handed to the operating system.
  /// To a native peer up to image_options::max_frames_in_flight, each until
  /// the peer acknowledges it.
  /// A frame written meanwhile is kept as the one pending frame
  /// (image_options::latest_frame_wins, the default) and sent when the
  /// image in flight completes, or dropped. The result says which. Images
  /// are not held to the write queue's bound (they are bounded by the one
  /// in flight and the one pending), so this never blocks on the socket.
  /// \throws std::system_error errc::not_connected if closed or closing;
  ///         std::invalid_argument for an empty image.
  image_status write_image(const image& img);

  /// As above, reporting failure in `ec` (returning image_status::dropped).
  image_status write_image(const image& img, std::error_code& ec) noexcept;

  /// As write_image(img), with this frame in `encoding` for a native peer
  /// instead of the engine's image_options::encoding (a legacy peer gets
  /// PNG whatever this says).
  image_status write_image(const image& img, image_encoding encoding);

  /// As above, reporting failure in `ec`.
  image_status write_image(const image& img, image_encoding encoding,
                           std::error_code& ec) noexcept;

  /// As write_image(img), but without copying the pixels where the frame
  /// carries them as they are: to a native peer in image_encoding::raw, the
  /// engine keeps a copy of `img` (which shares its pixels, see image) and
  /// the socket writes the pixels straight from it, behind the frame's
  /// header. A frame for many peers (hub::write_image_all with
  /// share_pixels) is then one set of pixels, whatever their number. PNG
  /// and JPEG frames, and legacy peers, which get PNG, are encoded on the
  /// calling thread as by write_image(img), and nothing is kept.
  ///
  /// The caller must not write the pixels, through any copy of the image,
  /// until the engine has let go of them: once the frame has been handed
  /// to the operating system, replaced as the pending frame by a newer
  /// one, or dropped because the connection closed or lost its link. The
  /// engine only reads them. Then img.use_count() is back to the copies the
  /// caller holds (1 for `img` alone), which is how a caller that reuses
  /// its buffers knows one is free; a frame written over meanwhile reaches
  /// the peer as a mix of old and new pixels. A producer that makes a new
  /// image per frame has nothing to watch. can_write_image() and
  /// wait_for_image_slot() do not tell: a frame may be written out and
  /// still in flight, waiting for the peer's acknowledgement.
  /// \throws as write_image(img).
  image_status write_image(const image& img, share_pixels_t);

  /// As above, reporting failure in `ec` (returning image_status::dropped).
  image_status write_image(const image& img, share_pixels_t, std::error_code& ec) noexcept;

  /// As write_image(img, share_pixels), with this frame in `encoding` for a
  /// native peer instead of the engine's image_options::encoding.
  image_status write_image(const image& img, image_encoding encoding, share_pixels_t);

  /// As above, reporting failure in `ec`.
  image_status write_image(const image& img, image_encoding encoding, share_pixels_t,
                           std::error_code& ec) noexcept;

  /// Seed `canWrite`: true when another image may be in flight (none to a
  /// legacy peer; fewer than max_frames_in_flight to a native one), so that
  /// write_image would send at once.
  [[nodiscard]] bool can_write_image() const noexcept;

  /// Waits until write_image would not replace a pending frame: none is
  /// pending (one may be in flight). A producer that calls this between
  /// frames encodes each frame while the previous one travels, and never
  /// encodes a frame that is then replaced. Returns false if `timeout`
  /// passes first or the connection closes.
  bool wait_for_image_slot(std::chrono::milliseconds timeout) const;

  /// Seed `getImg()`: the last image received, or empty if none has arrived
  /// or the connection has closed. Images come decoded: gray, BGR or BGRA
  /// (see image). A closed connection keeps its last values but not its
  /// last image, which may be large (image_options::max_pixels): keep the
  /// image from here, wait_for_image or an image callback to hold on to it.
  [[nodiscard]] std::optional<image> get_image() const;

  /// Waits until an image has arrived (returning at once if one has) and
  /// returns the last one; empty on timeout or close.
  [[nodiscard]] std::optional<image> wait_for_image(std::chrono::milliseconds timeout) const;

  /// Waits for an image newer than `since` (an image_version() taken
  /// earlier) and returns the last one; empty on timeout or close.
  [[nodiscard]] std::optional<image> wait_for_next_image(std::chrono::milliseconds timeout,
                                                         std::uint64_t since) const;

  /// The version of the last image received (from the same counter as
  /// version()); 0 if none has arrived.
  [[nodiscard]] std::uint64_t image_version() const;

  /// Waits until every message and image written so far has been handed to
  /// the operating system. Returns false if `timeout` passed first or the
  /// connection closed with one of them unsent (a value held for a slow
  /// peer included). What the engine writes of its own after them (an
  /// acknowledgement, a pong, the switch to the native protocol) is not
  /// waited for, so a peer that hangs up on reading the last message leaves
  /// nothing unsent.
  bool flush(std::chrono::milliseconds timeout);

  /// Closes the connection: on hub connections sends `__status`/`__closing`,
  /// writes what was queued, half-closes, and closes the socket once the
  /// peer closes too (waiting at most 250 ms for that) or once the engine's
  /// timeout passes. Blocks until the socket is closed or that timeout (plus
  /// a second) has passed; returns at once when the engine is closing, whose
  /// own close() bounds the wait. Idempotent.
  void close();

  /// True until the connection is closed or starts closing; true while it
  /// is reconnecting.
  [[nodiscard]] bool is_open() const noexcept;

  /// Whether the link is up, being redialled, closing or closed.
  [[nodiscard]] link_state state() const noexcept;

  /// True once this side writes the native protocol to the peer: the peer is
  /// a socketengine engine that offered it, as this one did (see
  /// hub_options::native). It turns true a round trip after connecting, and
  /// stays false with a socket.engine 0.3 peer. Messages and images written
  /// before are delivered all the same, in order.
  [[nodiscard]] bool is_native() const noexcept;

  /// Why the connection ended: errc::closed_locally (this connection's or its
  /// engine's close()), errc::peer_closing, errc::peer_eof,
  /// errc::line_too_long, errc::frame_too_large, errc::invalid_frame (a
  /// native switch nobody offered) or an operating system error such as
  /// connection_reset. Empty while open, reconnecting included (each lost
  /// link's reason goes to the error handler).
  [[nodiscard]] std::error_code close_reason() const;

  /// The connection's name: the name given to `hub::connect` on the dialling
  /// side, the name the peer sent in `__name_conn` on the accepting side, and
  /// empty when no name was given (host/client connections).
  [[nodiscard]] std::string name() const;

  /// For a local connection the address as given to connect; for a remote one
  /// the peer's IP address.
  [[nodiscard]] std::string address() const;

  /// For a local connection the port dialled; for a remote one the peer's port.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// local: dialled by this side; remote: accepted by it.
  [[nodiscard]] connection_kind kind() const noexcept;

  /// A snapshot of the connection's counters.
  [[nodiscard]] connection_stats stats() const noexcept;

  struct impl;

private:
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace socketengine
