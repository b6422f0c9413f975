#pragma once
// What a protocol's reader hands its decoded input to: the connection. The
// reader knows the wire (lines or frames, reserved channels, negotiation);
// the receiver knows what to do with a value, an image or a request to
// close (store it, tell the callbacks, answer, close).
//
// Threading: called on the engine's I/O thread only, from inside
// reader::consume(). A call may close the connection (peer_closing, fail);
// readers check open() after each message and stop if it is false.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine::detail::protocol {

class receiver {
public:
  /// A value arrived on `channel`; `wire_bytes`: what it took on the wire.
  virtual void value_received(std::string_view channel, value&& v, std::size_t wire_bytes) = 0;
  /// Bytes arrived on `channel` (stored as a binary value).
  virtual void bytes_received(std::string_view channel, std::span<const std::uint8_t> bytes,
                              std::size_t wire_bytes) = 0;
  /// A decoded image arrived; `counted`: it counts as a message received.
  virtual void image_received(image&& img, bool counted) = 0;
  /// Decodes an image: work in proportion to what the peer sent, which
  /// must not hold up the I/O thread. Returns the image, or empty with
  /// `ec` and `detail` saying why. May throw std::bad_alloc. Owns its input.
  using image_decoder = std::function<std::optional<image>(std::error_code& ec,
                                                           std::string& detail)>;
  /// An image arrived that takes decoding: the receiver runs `decode` off
  /// the I/O thread, then treats the image as image_received would (or the
  /// failure as reject). With `acknowledge`, the peer is owed an
  /// acknowledgement once the image is decoded: its window of images in
  /// flight then paces it to the speed of decoding. Only a few images wait
  /// for their decoding (the oldest is dropped, and acknowledged at once):
  /// a peer that sends past its window gets its latest. `held`: the bytes
  /// `decode` holds of what the peer sent, counted against the engine's
  /// budget while the image waits.
  virtual void image_to_decode(image_decoder decode, std::size_t held, bool counted,
                               bool acknowledge) = 0;
  /// The peer named this connection (`__name_conn`).
  virtual void peer_named(const std::string& name) = 0;
  /// An image arrived that the peer expects to be acknowledged; `now`:
  /// write the acknowledgement at once (the image is not decoded yet and the
  /// sender encodes its next frame meanwhile), otherwise with the next write.
  virtual void image_needs_ack(bool now) = 0;
  /// The peer acknowledged `count` of the images sent to it.
  virtual void images_acknowledged(std::uint32_t count) = 0;
  /// The peer offered the native protocol: the output may switch.
  virtual void peer_offered() = 0;
  /// The peer sent a heartbeat ping: a pong is owed.
  virtual void ping_received() = 0;
  /// The peer said it is closing: the connection closes (errc::peer_closing).
  virtual void peer_closing() = 0;
  /// A piece of bad input, dropped: counted and reported; reading goes on.
  virtual void reject(std::error_code ec, std::string detail) = 0;
  /// Input the stream cannot go on after: reported, and the connection
  /// closes with `ec` as its reason.
  virtual void fail(std::error_code ec, std::string detail) = 0;
  /// Token authentication (auth::reader): a handshake line to write to the
  /// peer now, ahead of anything else.
  virtual void handshake_reply(std::string_view line) = 0;
  /// The peer proved it holds the token, or (`legacy`) was admitted as a
  /// peer that cannot: the connection opens. `offers_native`: its hello
  /// offered the native protocol.
  virtual void peer_authenticated(bool legacy, bool offers_native) = 0;
  /// The peer is refused (errc::unauthenticated): the connection writes
  /// `line` (why, for the peer), then closes; `detail` says why here.
  virtual void refuse(std::string_view line, std::string detail) = 0;
  /// The engine's budget has no room for a buffer of `wanted` bytes: asks
  /// the engine to make room (see memory_budget). True if there is room
  /// now, and the reader tries again; false and the reader fails.
  [[nodiscard]] virtual bool make_room(std::size_t wanted) = 0;
  /// False once the connection has closed: the reader stops handing input.
  [[nodiscard]] virtual bool open() const noexcept = 0;

protected:
  ~receiver() = default;
};

} // namespace socketengine::detail::protocol
