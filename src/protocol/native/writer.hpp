#pragma once
// The native protocol's output: frames, from this side's switch line on.

#include "protocol/settings.hpp"
#include "protocol/writer.hpp"

namespace socketengine::detail::native {

class writer final : public protocol::writer {
public:
  writer(std::size_t slot, const protocol::settings& s) noexcept
      : protocol::writer(slot), settings_(s) {}

  [[nodiscard]] protocol::protocol_kind kind() const noexcept override {
    return protocol::protocol_kind::native;
  }

  /// A bytes frame for a binary value, a JSON frame otherwise.
  void append_value(std::string& out, std::string_view channel, const value& v) const override;
  void append_bytes(std::string& out, std::string_view channel,
                    std::span<const std::uint8_t> bytes) const override;
  /// One control frame with the count.
  void append_acks(std::string& out, std::uint32_t count) const override;
  /// The closing control frame between hubs (which alone send `__status`
  /// in the legacy protocol); nothing between a host and its clients.
  void append_closing(std::string& out) const override;
  /// Ping and pong control frames.
  [[nodiscard]] bool heartbeats() const noexcept override { return true; }
  void append_ping(std::string& out) const override;
  void append_pong(std::string& out) const override;
  /// An image frame in the image's encoding; a PNG one shares the PNG a
  /// legacy peer gets; a raw one sent with share_pixels is its headers
  /// followed by the caller's pixels, uncopied.
  protocol::image_bytes encode_image(protocol::encoded_image& img) const override;
  /// image_options::max_frames_in_flight, at least 1: while one frame
  /// travels the next is encoded and sent.
  [[nodiscard]] std::size_t image_window() const noexcept override;
  /// Every native peer acknowledges images.
  [[nodiscard]] bool peer_acknowledges_images() const noexcept override { return true; }

private:
  const protocol::settings& settings_;
};

} // namespace socketengine::detail::native
