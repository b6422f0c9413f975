#pragma once
// One protocol's output side: how what a connection sends is encoded, and
// the rules of images in flight that go with it. Writers hold no state of a
// connection: one of each serves every connection of an engine (see
// suite.hpp), and a connection switches by pointing at another.
//
// Threading: any thread; every member is const.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine::detail::protocol {

class encoded_image;

/// An image as a protocol sends it: `bytes`, then, for a raw frame that
/// keeps the caller's pixels instead of a copy (share_pixels), the pixels
/// of `pixels`. Copies share both; the pixels stay alive, and unwritten by
/// the engine, as long as a copy does.
struct image_bytes {
  std::shared_ptr<const std::string> bytes;
  image pixels; // empty unless its pixels follow `bytes` on the wire

  /// Bytes on the wire.
  [[nodiscard]] std::size_t size() const noexcept {
    return (bytes ? bytes->size() : 0) + pixels.size_bytes();
  }
  /// False for none (a default-constructed one).
  explicit operator bool() const noexcept { return bytes != nullptr; }
};

/// Which protocol a writer speaks (connection::is_native()).
enum class protocol_kind { legacy, native };

class writer {
public:
  /// Writers a suite has; an encoding made once per protocol keeps one form
  /// per slot.
  static constexpr std::size_t slots = 2;

  explicit writer(std::size_t slot) noexcept : slot_(slot) {}
  virtual ~writer() = default;
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  [[nodiscard]] virtual protocol_kind kind() const noexcept = 0;

  /// This writer's index among its suite's, below `slots`.
  [[nodiscard]] std::size_t slot() const noexcept { return slot_; }

  /// Appends `v` on `channel`.
  /// \throws std::system_error errc::invalid_utf8 for a string that is not
  ///         UTF-8; std::invalid_argument for a channel the protocol cannot
  ///         carry; std::bad_alloc.
  virtual void append_value(std::string& out, std::string_view channel,
                            const value& v) const = 0;

  /// Appends `bytes` on `channel`, for the peer to store as a binary value.
  /// \throws as append_value.
  virtual void append_bytes(std::string& out, std::string_view channel,
                            std::span<const std::uint8_t> bytes) const = 0;

  /// Appends the acknowledgement of `count` images received.
  virtual void append_acks(std::string& out, std::uint32_t count) const = 0;

  /// Appends the message that tells the peer this side is closing; nothing
  /// where the protocol has none (host/client connections).
  virtual void append_closing(std::string& out) const = 0;

  /// Whether the protocol has heartbeats (append_ping, append_pong).
  [[nodiscard]] virtual bool heartbeats() const noexcept { return false; }
  /// Appends a heartbeat ping, which the peer answers with a pong; nothing
  /// where the protocol has none.
  virtual void append_ping(std::string& /*out*/) const {}
  /// Appends the answer to a ping; nothing where the protocol has none.
  virtual void append_pong(std::string& /*out*/) const {}

  /// Encodes an image as this protocol sends it.
  /// \throws as the image encoders; std::bad_alloc.
  virtual image_bytes encode_image(encoded_image& img) const = 0;

  /// How many images may be in flight to the peer at once.
  [[nodiscard]] virtual std::size_t image_window() const noexcept = 0;

  /// Whether the peer acknowledges the images it receives; if not, an image
  /// is done once written.
  [[nodiscard]] virtual bool peer_acknowledges_images() const noexcept = 0;

private:
  std::size_t slot_;
};

} // namespace socketengine::detail::protocol
