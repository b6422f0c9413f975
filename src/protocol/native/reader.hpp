#pragma once
// The native protocol's input: frames (docs/native-protocol.md), from the
// first byte after the peer's switch line.

#include <functional>
#include <memory>
#include <string>
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
  std::function<void()> take_work() override;
  [[nodiscard]] std::size_t pending() const noexcept override { return frames_.pending(); }
  [[nodiscard]] std::size_t coming() const noexcept override { return frames_.coming(); }
  void release_if_idle() noexcept override { frames_.release_if_empty(); }
  void release() noexcept override {
    frames_.release();
    job_.reset();
  }

private:
  void handle_frame(protocol::receiver& to, std::span<const std::uint8_t> body,
                    std::shared_ptr<const void> owner);
  /// Decodes a JSON frame's payload. Any thread.
  static legacy::prepared decode_json(const protocol::settings& s, std::string&& channel,
                                      std::string_view text, std::size_t wire_bytes);

  // A large JSON frame on its way through decoding off the I/O thread:
  // the work owns the frame while it runs, consume() takes the result.
  // The settings come first: they keep the budget the frame's charge goes
  // back to, and the work may outlive the reader.
  struct job {
    protocol::settings settings;
    std::shared_ptr<const void> owner; // the frame's buffer
    std::string_view text;
    budget_charge charge; // the buffer's
    std::string channel;
    std::size_t wire_bytes = 0;
    legacy::prepared result;
  };

  const protocol::settings& settings_;
  frame_reader frames_;
  std::shared_ptr<job> job_; // set from outcome::paused until consumed
  bool job_taken_ = false;   // take_work() was called for job_
  // JSON frames are handled as the same lines would be.
  legacy::session lines_;
};

} // namespace socketengine::detail::native
