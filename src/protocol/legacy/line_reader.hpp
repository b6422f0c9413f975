#pragma once
// Splits a byte stream into `\n`-terminated lines with a bounded buffer.
//
// The reader owns one contiguous buffer that the socket reads straight into,
// so a complete line is handed out as a view without copying, and a long line
// (a 1 MB image) is scanned once, not once per read: `scan_` remembers how far
// the search for `\n` got.

#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

#include "util/byte_buffer.hpp"
#include "util/memory_budget.hpp"

namespace socketengine::detail::legacy {

class line_reader {
public:
  /// `max_line`: longest line accepted (without its `\n`).
  /// `min_read`: least free space offered to each read. `budget`: what
  /// the buffer is charged to, if anything.
  line_reader(std::size_t max_line, std::size_t min_read, memory_budget* budget = nullptr);
  ~line_reader() { release(); }
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;

  /// Space to read into: at least min_read bytes, unless the buffer would
  /// have to grow past what the longest line needs.
  /// \throws over_budget if growing would pass the budget; std::bad_alloc.
  std::span<char> prepare();

  /// Records that `n` bytes were written into the last prepare() span.
  void commit(std::size_t n) noexcept { end_ += n; }

  /// Calls `on_line(std::string_view)` for each complete line, without the
  /// `\n`. Returns false if the unfinished line is already longer than
  /// max_line (the caller should close the connection).
  template <class F>
  bool consume(F&& on_line) {
    stopped_ = false;
    while (scan_ < end_ && !stopped_) {
      auto* nl = static_cast<char*>(std::memchr(buf_.data() + scan_, '\n', end_ - scan_));
      if (nl == nullptr) {
        scan_ = end_;
        break;
      }
      std::size_t pos = static_cast<std::size_t>(nl - buf_.data());
      std::string_view line(buf_.data() + begin_, pos - begin_);
      begin_ = scan_ = pos + 1;
      if (line.size() > max_line_) return false;
      on_line(line);
    }
    if (begin_ == end_) begin_ = scan_ = end_ = 0;
    return end_ - begin_ <= max_line_;
  }

  /// A line taken out of the reader with the buffer that holds it.
  struct taken {
    byte_buffer buffer;
    budget_charge charge; // the buffer's
    std::string_view line;
  };

  /// Takes `line`, the one consume() is handing out, with the buffer that
  /// holds it and that buffer's charge, so that other work may read it
  /// without a copy while this reader goes on with a buffer of its own for
  /// what followed the line. Call from consume()'s callback, then stop().
  /// \throws std::bad_alloc, leaving the reader as it was.
  taken take(std::string_view line);

  /// Starts a fresh reader with `bytes` (what another reader read past its
  /// last line), in a buffer of their size at least, charged to the budget.
  /// \throws over_budget; std::bad_alloc.
  void assign(std::string_view bytes);

  /// Ends a consume() walk after the current line.
  void stop() noexcept { stopped_ = true; }

  /// The bytes after the last line consumed (what follows a protocol
  /// switch), valid until the next call.
  [[nodiscard]] std::string_view rest() const noexcept {
    return {buf_.data() + begin_, end_ - begin_};
  }

  /// Bytes held for an unfinished line.
  [[nodiscard]] std::size_t pending() const noexcept { return end_ - begin_; }

  /// Current buffer size, for memory accounting and tests.
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  /// Gives back a large buffer once it holds nothing (after a big message).
  void shrink_if_idle() noexcept;

  /// Drops the buffer and anything in it (the connection is gone).
  void release() noexcept {
    buf_.reset();
    if (budget_) budget_->release(cap_);
    cap_ = begin_ = scan_ = end_ = 0;
  }

private:
  byte_buffer buf_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0; // first byte of the unfinished line
  std::size_t scan_ = 0;  // bytes before this hold no '\n' past begin_
  std::size_t end_ = 0;   // end of data
  std::size_t max_line_;
  std::size_t min_read_;
  memory_budget* budget_;
  bool stopped_ = false;
};

} // namespace socketengine::detail::legacy
