#pragma once
// What this process holds: heap bytes in use and open descriptors, for the
// tests that check an engine gives back all it took once its peers are gone.

#include <malloc.h>

#include <cstddef>
#include <filesystem>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOCKETENGINE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOCKETENGINE_TEST_SANITIZED 1
#endif
#endif

#ifdef SOCKETENGINE_TEST_SANITIZED
// The sanitizer runtimes' allocator statistics (ASan and TSan both have
// it). Declared here: GCC ships the runtimes but not clang's
// <sanitizer/allocator_interface.h> that declares it.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace socketengine::test {

/// Bytes allocated (malloc, new) and not yet freed, as the allocator counts
/// them. Exact, unlike resident memory, which a freed page need not leave;
/// under a sanitizer, its allocator's count (glibc's is not in use there).
/// Not counted: what the engine maps itself (util/byte_buffer's pages),
/// which its memory budget counts instead.
inline std::size_t heap_in_use() {
#ifdef SOCKETENGINE_TEST_SANITIZED
  return __sanitizer_get_current_allocated_bytes();
#else
  auto m = ::mallinfo2(); // summed over every arena
  return m.uordblks + m.hblkhd;
#endif
}

/// Descriptors open in this process.
inline std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n - 1; // the iterator's own
}

} // namespace socketengine::test
