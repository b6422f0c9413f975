#pragma once
// The native protocol's input: frames (docs/native-protocol.md), from the
// first byte after the peer's switch line.

#include <string_view>

#include "protocol/legacy/session.hpp"
#include "protocol/native/frame_reader.hpp"
#include "protocol/reader.hpp"
#include "protocol/settings.hpp"

namespace socketengine::detail::native {

class reader final : public protocol::reader {
public:
  /// `first`: bytes that came after the switch line, in the same read.
  reader(const protocol::settings& s, int offered, std::string_view first);

  std::span<char> prepare() override { return frames_.prepare(); }
  void commit(std::size_t n) noexcept override { frames_.commit(n); }
  outcome consume(protocol::receiver& to) override;
  [[nodiscard]] std::size_t pending() const noexcept override { return frames_.pending(); }
  void release_if_idle() noexcept override { frames_.release_if_empty(); }
  void release() noexcept override { frames_.release(); }

private:
  void handle_frame(protocol::receiver& to, std::span<const std::uint8_t> body,
                    std::shared_ptr<const void> owner);

  const protocol::settings& settings_;
  frame_reader frames_;
  // JSON frames are handled as the same lines would be.
  legacy::session lines_;
};

} // namespace socketengine::detail::native
