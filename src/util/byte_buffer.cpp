#include "util/byte_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace socketengine::detail {

namespace {

std::size_t page_rounded(std::size_t n) {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (n > SIZE_MAX - page) throw std::bad_alloc();
  return (n + page - 1) / page * page;
}

char* map(std::size_t n) {
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(p);
}

} // namespace

byte_buffer::byte_buffer(std::size_t size) { grow(size, 0); }

byte_buffer::byte_buffer(byte_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, false)) {}

byte_buffer& byte_buffer::operator=(byte_buffer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, false);
  }
  return *this;
}

void byte_buffer::grow(std::size_t size, std::size_t keep) {
  if (size <= size_) return;
  keep = std::min(keep, size_);
  if (size < mapped_from) {
    // Small: a heap block (this buffer is not mapped, being smaller).
    auto* next = static_cast<char*>(std::malloc(size));
    if (next == nullptr) throw std::bad_alloc();
    if (keep > 0) std::memcpy(next, data_, keep);
    std::free(data_);
    data_ = next;
    size_ = size;
    return;
  }
  std::size_t length = page_rounded(size);
  if (mapped_) {
    void* p = ::mremap(data_, size_, length, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    size_ = length;
    return;
  }
  // From the heap to pages: what is kept is below mapped_from.
  char* next = map(length);
  if (keep > 0) std::memcpy(next, data_, keep);
  std::free(data_);
  data_ = next;
  size_ = length;
  mapped_ = true;
}

void byte_buffer::reset() noexcept {
  if (data_ == nullptr) return;
  if (mapped_)
    (void)::munmap(data_, size_);
  else
    std::free(data_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
}

} // namespace socketengine::detail
