#pragma once
// A byte buffer that grows without copying what it holds once it is large.
//
// A line of tens of megabytes arrives a read at a time into one buffer,
// which grows as it fills. Growing a heap block means a new block and a
// copy of everything so far: tens of milliseconds on the I/O thread for
// every other peer to wait out at each doubling. Large buffers here are
// mapped pages instead, and grow by remapping them (Linux mremap), which
// moves page table entries and no bytes. Written here because neither the
// standard library nor a packaged one offers a growable buffer with that
// guarantee: realloc remaps only blocks glibc happened to place with mmap,
// and glibc raises that threshold at run time.

#include <cstddef>

namespace socketengine::detail {

class byte_buffer {
public:
  /// Buffers of at least this many bytes are mapped pages.
  static constexpr std::size_t mapped_from = std::size_t{256} << 10;

  byte_buffer() noexcept = default;
  /// A buffer of `size` bytes, uninitialised.
  /// \throws std::bad_alloc.
  explicit byte_buffer(std::size_t size);
  ~byte_buffer() { reset(); }
  byte_buffer(byte_buffer&& other) noexcept;
  byte_buffer& operator=(byte_buffer&& other) noexcept;
  byte_buffer(const byte_buffer&) = delete;
  byte_buffer& operator=(const byte_buffer&) = delete;

  [[nodiscard]] char* data() noexcept { return data_; }
  [[nodiscard]] const char* data() const noexcept { return data_; }
  /// Bytes usable; may be more than asked for (a mapping's whole pages).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] explicit operator bool() const noexcept { return data_ != nullptr; }

  /// Grows to at least `size` bytes, keeping the first `keep` bytes (at
  /// most the current size). A mapped buffer is remapped, not copied; a
  /// heap one is copied, which below mapped_from is cheap. Leaves the
  /// buffer as it was if it throws.
  /// \throws std::bad_alloc.
  void grow(std::size_t size, std::size_t keep);

  /// Frees the buffer.
  void reset() noexcept;

private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
};

} // namespace socketengine::detail
