#pragma once
// The legacy protocol's input: JSON lines (docs/legacy-protocol.md), up to
// the peer's switch line if the native protocol was offered.

#include <functional>
#include <memory>

#include "protocol/legacy/line_reader.hpp"
#include "protocol/legacy/session.hpp"
#include "protocol/reader.hpp"
#include "protocol/settings.hpp"

namespace socketengine::detail::legacy {

class reader final : public protocol::reader {
public:
  /// `offered`: the native protocol version this side offered, 0 if none.
  reader(const protocol::settings& s, int offered);
  /// Starting with `first`, what the authentication handshake's reader
  /// read past the handshake. \throws over_budget; std::bad_alloc.
  reader(const protocol::settings& s, int offered, std::string_view first);

  std::span<char> prepare() override { return lines_.prepare(); }
  void commit(std::size_t n) noexcept override { lines_.commit(n); }
  outcome consume(protocol::receiver& to) override;
  std::function<void()> take_work() override;
  [[nodiscard]] std::string_view rest() const noexcept override { return lines_.rest(); }
  [[nodiscard]] std::size_t pending() const noexcept override { return lines_.pending(); }
  void release_if_idle() noexcept override;
  void release() noexcept override {
    lines_.release();
    job_.reset();
  }

private:
  // A large line on its way through session::prepare_line off the I/O
  // thread: the work owns it while it runs, consume() takes the result.
  // The settings come first: they keep the budget the line's charge goes
  // back to, and the work may outlive the reader.
  struct job {
    protocol::settings settings;
    line_reader::taken line;
    prepared result;
  };

  const protocol::settings& settings_;
  line_reader lines_;
  session session_;
  std::shared_ptr<job> job_; // set from outcome::paused until consumed
  bool job_taken_ = false;   // take_work() was called for job_
};

} // namespace socketengine::detail::legacy
