#pragma once
// The legacy protocol's output: JSON lines as socket.engine 0.3 writes and
// reads them, plus the native protocol's negotiation lines, which a 0.3
// peer stores on a channel nobody reads.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "protocol/settings.hpp"
#include "protocol/writer.hpp"

namespace socketengine::detail::legacy {

class writer final : public protocol::writer {
public:
  /// `offered`: the native protocol version this side offers, 0 if none.
  writer(std::size_t slot, const protocol::settings& s, int offered) noexcept
      : protocol::writer(slot), settings_(s), offered_(offered) {}

  [[nodiscard]] protocol::protocol_kind kind() const noexcept override {
    return protocol::protocol_kind::legacy;
  }

  /// A bytes value goes as a base64 string, announced by a hint line when
  /// the native protocol is offered, so that a socketengine peer gets bytes
  /// back whether or not the connection has switched yet.
  void append_value(std::string& out, std::string_view channel, const value& v) const override;
  void append_bytes(std::string& out, std::string_view channel,
                    std::span<const std::uint8_t> bytes) const override;
  /// One `__ack` line, whatever the count: only hubs acknowledge, and they
  /// count lines (socket.engine 0.3 hubs send one per image).
  void append_acks(std::string& out, std::uint32_t count) const override;
  /// `__status` / `__closing` between hubs; nothing between a host and its
  /// clients.
  void append_closing(std::string& out) const override;
  /// A base64 PNG line on `__image` (hubs) or `image` (host/client).
  protocol::image_bytes encode_image(protocol::encoded_image& img) const override;
  [[nodiscard]] std::size_t image_window() const noexcept override { return 1; }
  /// Hubs acknowledge images; hosts and clients never do.
  [[nodiscard]] bool peer_acknowledges_images() const noexcept override { return settings_.hub; }

  /// What a connection sends first, before anything the application
  /// writes: the `__name_conn` line with `name` (a hub's dial), then the
  /// offer of the native protocol if this side offers it.
  void append_greeting(std::string& out, std::optional<std::string_view> name) const;

  /// The `__name_conn` line alone (append_greeting's first).
  static void append_greeting_name(std::string& out, std::string_view name);

  /// The line after which this side writes frames.
  void append_switch(std::string& out) const;

  /// Token authentication's lines (protocol/auth/reader.hpp), on
  /// `__native`: the hello a side with a token greets with instead of the
  /// offer (its nonce, and the offer if this side offers), its proof, and
  /// why it refuses the peer ("bad_token", "token_required").
  void append_hello(std::string& out, std::span<const std::uint8_t> nonce) const;
  static void append_proof(std::string& out, std::span<const std::uint8_t> proof);
  static void append_refusal(std::string& out, std::string_view why);

private:
  const protocol::settings& settings_;
  const int offered_;
};

} // namespace socketengine::detail::legacy
