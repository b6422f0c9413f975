#pragma once
// Splits a byte stream into native frames (see native_codec.hpp) with a
// bounded buffer.
//
// Small frames are read many at a time into one buffer and handed out as
// views into it. A frame larger than that buffer gets a buffer of its own,
// sized from its header once the header has passed the limit, and the
// socket reads the rest of it straight into that buffer: a raw camera frame
// is never copied on the way in, and the buffer becomes the image's pixels.
// The reader can let go of its buffer whenever it is empty
// (release_if_empty): the engine does so for idle connections, which then
// hold none.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "protocol/native/frame_codec.hpp"
#include "util/buffer_pool.hpp"
#include "util/memory_budget.hpp"

namespace socketengine::detail::native {

class frame_reader {
public:
  /// `max_frame`: largest frame accepted (its size field). `buffer_size`:
  /// bytes offered to each read of small frames. `budget`: what buffers
  /// are charged to, if anything; a large frame's own buffer is charged
  /// until it is handed out. `pool`: where large frames' buffers come
  /// from, if anywhere (otherwise each is new).
  frame_reader(std::size_t max_frame, std::size_t buffer_size, memory_budget* budget = nullptr,
               buffer_pool* pool = nullptr);
  ~frame_reader() { release(); }
  frame_reader(const frame_reader&) = delete;
  frame_reader& operator=(const frame_reader&) = delete;

  /// Space to read into: the rest of a large frame, or free buffer space.
  /// \throws over_budget; std::bad_alloc.
  std::span<char> prepare();

  /// Records that `n` bytes were written into the last prepare() span.
  void commit(std::size_t n) noexcept;

  /// Takes bytes that arrived before the reader existed (after the switch
  /// line, in the same read).
  void assign(std::string_view bytes);

  /// Calls `on_frame(std::span<const std::uint8_t> body,
  /// std::shared_ptr<const void> owner)` for each complete frame, body
  /// being the bytes after the size field, and owner set for a frame in a
  /// buffer of its own. Returns false, leaving bad_size() set, at a frame
  /// whose size is past the limit or too short for a header: the stream
  /// is then beyond repair. `on_frame` may call stop() to end the walk.
  /// \throws over_budget if a large frame's buffer would pass the budget;
  /// std::bad_alloc.
  template <class F>
  bool consume(F&& on_frame) {
    stopped_ = false;
    while (!stopped_) {
      if (big_) {
        if (big_filled_ < big_size_) break;
        auto owner = std::move(big_);
        if (budget_) budget_->release(big_size_); // the frame's now, not the reader's
        big_size_ = big_filled_ = 0;
        on_frame(std::span<const std::uint8_t>(
                     reinterpret_cast<const std::uint8_t*>(owner.get()) + native::size_field,
                     frame_size_ - native::size_field),
                 std::shared_ptr<const void>(owner, owner.get()));
        continue;
      }
      std::size_t have = end_ - begin_;
      if (have < native::size_field) break;
      auto* p = reinterpret_cast<const std::uint8_t*>(buf_.get() + begin_);
      std::uint64_t size = native::load_u32(p);
      if (size < native::header_size - native::size_field || size > max_frame_) {
        bad_size_ = size;
        return false;
      }
      std::size_t total = static_cast<std::size_t>(size) + native::size_field;
      if (total > cap_ && have < total) {
        start_big(total);
        continue;
      }
      if (have < total) break;
      begin_ += total;
      on_frame(std::span<const std::uint8_t>(p + native::size_field, total - native::size_field),
               std::shared_ptr<const void>());
    }
    if (begin_ == end_) begin_ = end_ = 0;
    return true;
  }

  /// Ends a consume() walk after the current frame.
  void stop() noexcept { stopped_ = true; }

  /// The size field that made consume() fail.
  [[nodiscard]] std::uint64_t bad_size() const noexcept { return bad_size_; }

  /// Size of the frame being read into a buffer of its own (for reports).
  [[nodiscard]] std::size_t wanted() const noexcept { return frame_size_; }

  /// Bytes the frame being read into a buffer of its own still needs; 0
  /// between such frames.
  [[nodiscard]] std::size_t coming() const noexcept {
    return big_ ? big_size_ - big_filled_ : 0;
  }

  /// Bytes held for an unfinished frame.
  [[nodiscard]] std::size_t pending() const noexcept {
    return big_ ? big_filled_ : end_ - begin_;
  }

  /// Bytes of buffer held, for memory accounting and tests.
  [[nodiscard]] std::size_t held() const noexcept { return alloc_ + big_size_; }

  /// Lets go of the buffer if it holds nothing.
  void release_if_empty() noexcept {
    if (!big_ && begin_ == end_) {
      buf_.reset();
      if (budget_) budget_->release(alloc_);
      alloc_ = 0;
    }
  }

  /// Drops everything (the connection is gone).
  void release() noexcept {
    buf_.reset();
    big_.reset();
    if (budget_) budget_->release(alloc_ + big_size_);
    alloc_ = begin_ = end_ = big_size_ = big_filled_ = 0;
  }

private:
  void start_big(std::size_t total);

  std::unique_ptr<char[]> buf_;
  std::size_t cap_;       // size of a new buffer
  std::size_t alloc_ = 0; // size of buf_: cap_, or more when assign() needed it
  std::size_t begin_ = 0; // first byte of the unfinished frame
  std::size_t end_ = 0;   // end of data
  // A frame larger than the buffer, read into a buffer of its own.
  std::shared_ptr<char[]> big_;
  std::size_t big_size_ = 0;
  std::size_t big_filled_ = 0;
  std::size_t frame_size_ = 0;
  std::size_t max_frame_;
  memory_budget* budget_;
  buffer_pool* pool_;
  std::uint64_t bad_size_ = 0;
  bool stopped_ = false;
};

} // namespace socketengine::detail::native
