#pragma once
// Flow control of the images a connection sends (docs/design.md, Images):
// up to a window of images in flight, oldest first, each until it has been
// written and, if the peer acknowledges images, acknowledged, in either
// order; and at most one pending frame, the latest, which takes the first
// free place. An acknowledgement that comes before its image is written
// waits for the write, so the socket, not the peer's word, paces frames.
//
// Threading: not synchronised; its owner (the outbox) guards it with its
// write lock.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "protocol/writer.hpp"

namespace socketengine::detail {

class image_flow {
public:
  using frame = protocol::image_bytes;

  /// True when another image may go out now.
  [[nodiscard]] bool has_room(std::size_t window) const noexcept {
    return in_flight_.size() < window;
  }

  /// Records an image queued for the socket that is fully written once the
  /// stream's written-byte count reaches `end`.
  void started(std::uint64_t end, bool needs_ack) { in_flight_.push_back({end, needs_ack, false}); }

  /// Keeps `f` as the pending frame, replacing an older one.
  void hold(frame f) noexcept { pending_ = std::move(f); }

  [[nodiscard]] bool has_pending() const noexcept { return static_cast<bool>(pending_); }

  /// Hands over the pending frame, if any (an empty one if none).
  [[nodiscard]] frame take_pending() noexcept { return std::exchange(pending_, frame{}); }

  /// The peer acknowledged `count` images; stray acknowledgements (more
  /// than are in flight) are ignored.
  void acknowledged(std::uint32_t count) noexcept;

  /// Retires, oldest first, the images that are done by `written` bytes
  /// and their acknowledgements. Returns whether any retired.
  bool retire(std::uint64_t written) noexcept;

  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_.size(); }

  /// Forgets everything (the connection closed).
  void clear() noexcept;

private:
  struct flight {
    std::uint64_t end; // written once the stream's byte count reaches this
    bool needs_ack;    // legacy hosts and clients acknowledge nothing
    bool acked;        // may come before the image is written
  };
  std::deque<flight> in_flight_;
  frame pending_;
};

} // namespace socketengine::detail
