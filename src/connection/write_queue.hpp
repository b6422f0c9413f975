#pragma once
// The bytes a connection has queued for the socket, as a list of segments
// written with one gathering write.
//
// Small messages are copied into the tail segment, so a burst of them
// leaves as one buffer. An encoded image is queued by reference: one
// encoding serves every connection it goes to, and a megabyte frame is not
// copied into the queue. Nor are the caller's pixels of a raw frame sent
// with share_pixels: the queue holds the image, and the write reads them.

#include <asio/buffer.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <socketengine/image.hpp>

namespace socketengine::detail {

class write_queue {
public:
  /// Copies `bytes` to the end of the queue.
  void append(std::string_view bytes) {
    if (segments_.empty() || segments_.back().by_reference()) segments_.emplace_back();
    segments_.back().bytes.append(bytes);
    size_ += bytes.size();
  }

  /// Queues `block` by reference, from its byte `from` on (what is before
  /// it was written already).
  void append_shared(std::shared_ptr<const std::string> block, std::size_t from = 0) {
    if (from >= block->size()) return;
    size_ += block->size() - from;
    segments_.push_back({{}, std::move(block), {}, from});
  }

  /// Queues the pixels of `img` by reference, from byte `from` on: `img`
  /// (sharing them) is held until the queue lets go of them (clear,
  /// release), and they are read, never written.
  void append_pixels(image img, std::size_t from = 0) {
    if (from >= img.size_bytes()) return;
    size_ += img.size_bytes() - from;
    segments_.push_back({{}, {}, std::move(img), from});
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// The queued bytes as buffers for a gathering write, valid until the
  /// queue changes.
  [[nodiscard]] std::vector<asio::const_buffer> buffers() const {
    std::vector<asio::const_buffer> out;
    out.reserve(segments_.size());
    for (auto& s : segments_) {
      if (s.shared)
        out.emplace_back(s.shared->data() + s.from, s.shared->size() - s.from);
      else if (!s.pixels.empty())
        out.emplace_back(s.pixels.data() + s.from, s.pixels.size_bytes() - s.from);
      else if (!s.bytes.empty())
        out.emplace_back(s.bytes.data(), s.bytes.size());
    }
    return out;
  }

  /// Empties the queue. The first segment's buffer is kept for the next
  /// messages unless it grew past `keep_capacity` (one large message must
  /// not stay allocated on an idle connection).
  void clear(std::size_t keep_capacity) {
    std::string first;
    if (!segments_.empty() && !segments_.front().by_reference())
      first = std::move(segments_.front().bytes);
    segments_.clear();
    size_ = 0;
    first.clear();
    if (first.capacity() > keep_capacity) return;
    if (first.capacity() > 0) segments_.push_back({std::move(first), {}, {}, 0});
  }

  /// Empties the queue and gives back all of its memory.
  void release() noexcept {
    std::vector<segment>().swap(segments_);
    size_ = 0;
  }

  void swap(write_queue& other) noexcept {
    segments_.swap(other.segments_);
    std::swap(size_, other.size_);
  }

private:
  // One of: bytes copied in, a shared block, or an image's pixels (the
  // last two from byte `from` on).
  struct segment {
    std::string bytes;
    std::shared_ptr<const std::string> shared;
    image pixels;
    std::size_t from = 0;
    [[nodiscard]] bool by_reference() const noexcept { return shared || !pixels.empty(); }
  };
  std::vector<segment> segments_;
  std::size_t size_ = 0;
};

} // namespace socketengine::detail
