#pragma once
// Large receive buffers, kept for the next frame of the same size.
//
// A raw camera frame is read from the socket straight into a buffer of its
// own, which becomes the image's pixels and lives as long as the image.
// Allocating a new one for each frame costs about as much as the copy it
// saves: the allocator hands a buffer of a megabyte back to the system
// when it is freed, so the next one arrives as fresh pages, each taken as
// a page fault and zeroed by the kernel while the socket's bytes wait
// (at 640x480, ten times the page faults of reading into one buffer, and
// a third fewer frames a second).
// A frame's buffer comes back here instead when its last image goes, from
// whichever thread lets go of it, and the next frame that fits takes it.
// glibc's thresholds could keep such memory too, but only for the whole
// process and only by an application's choice; a library must not set them.
//
// Bounded: at most max_buffers buffers and max_bytes bytes are kept, and
// trim() frees those that have waited longer than max_idle (the engine
// calls it on each sweep of its connections, at least once a second), so
// a stream that stops leaves nothing held for long.
//
// Threading: any thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace socketengine::detail {

class buffer_pool : public std::enable_shared_from_this<buffer_pool> {
public:
  /// Made with std::make_shared: the buffers it hands out find it through
  /// a weak reference, and are simply freed once it is gone.
  using clock = std::chrono::steady_clock;

  buffer_pool(std::size_t max_buffers, std::size_t max_bytes,
              std::chrono::milliseconds max_idle) noexcept
      : max_buffers_(max_buffers), max_bytes_(max_bytes), max_idle_(max_idle) {}
  ~buffer_pool();
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  /// A buffer of at least `size` bytes, contents undefined: one given back
  /// that is no more than an eighth larger, or a new one. It comes back
  /// here when its last owner lets go. \throws std::bad_alloc.
  std::shared_ptr<char[]> take(std::size_t size);

  /// Frees the buffers given back more than max_idle before `now`.
  void trim(clock::time_point now = clock::now()) noexcept;

  /// Bytes held by buffers waiting to be taken, for tests and statistics.
  [[nodiscard]] std::size_t held_bytes() const noexcept;

private:
  struct entry {
    char* data;
    std::size_t capacity;
    clock::time_point returned;
  };
  void give_back(char* data, std::size_t capacity) noexcept;

  const std::size_t max_buffers_;
  const std::size_t max_bytes_;
  const std::chrono::milliseconds max_idle_;
  mutable std::mutex mu_;
  std::vector<entry> free_;
  std::size_t bytes_ = 0;
};

} // namespace socketengine::detail
