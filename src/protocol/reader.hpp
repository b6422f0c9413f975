#pragma once
// One protocol's input side: the bytes a connection reads go into it, and
// it hands what they carry to a receiver. A connection reads with one
// reader at a time: the legacy one from the start, the native one from the
// peer's switch line on (see suite.hpp).
//
// Threading: the I/O thread only.

#include <cstddef>
#include <functional>
#include <span>
#include <string_view>

#include "protocol/receiver.hpp"

namespace socketengine::detail::protocol {

/// Messages of this size and more are decoded off the I/O thread (see
/// reader::outcome::paused): parsing JSON takes time in proportion to its
/// size, milliseconds per megabyte, which every other connection's
/// messages would wait for. Below it the hop to another thread and back
/// would cost more than it saves.
inline constexpr std::size_t off_thread_bytes = 64 * 1024;

class reader {
public:
  /// What consume() leaves the connection to do.
  enum class outcome {
    more,     ///< read on
    switched, ///< the peer switched protocol: rest() goes to the next reader
    stopped,  ///< the connection closed (the receiver was told why)
    paused    ///< a message needs take_work() done before it is handed on
  };

  virtual ~reader() = default;

  /// Space to read into.
  virtual std::span<char> prepare() = 0;

  /// Records that `n` bytes were read into the last prepare() span.
  virtual void commit(std::size_t n) noexcept = 0;

  /// Hands every complete message read so far to `to`.
  virtual outcome consume(receiver& to) = 0;

  /// After outcome::paused: the decoding of a large message, to be run
  /// off the I/O thread. Once it has run, consume() again (on the I/O
  /// thread) hands the message on and goes on with what follows; nothing
  /// is to be read meanwhile (prepare is not called), so messages keep
  /// their order. The work owns what it needs (the message's buffer and
  /// its charge to the budget, a copy of the settings): the reader may go
  /// meanwhile. Empty if there is none. \throws std::bad_alloc.
  [[nodiscard]] virtual std::function<void()> take_work() { return {}; }

  /// After outcome::switched: the bytes read past the switch, which belong
  /// to the next protocol. Valid until the next call.
  [[nodiscard]] virtual std::string_view rest() const noexcept { return {}; }

  /// Bytes held for a message not yet complete (0 between messages).
  [[nodiscard]] virtual std::size_t pending() const noexcept = 0;

  /// Bytes the message under way is known to still need before it is
  /// complete: a native frame's, once its header is read; 0 where that is
  /// not known (a legacy line) or between messages.
  [[nodiscard]] virtual std::size_t coming() const noexcept { return 0; }

  /// Lets go of the read buffer if it holds nothing (an idle connection).
  virtual void release_if_idle() noexcept = 0;

  /// Lets go of every buffer (the connection closed).
  virtual void release() noexcept = 0;
};

} // namespace socketengine::detail::protocol
