#include "util/buffer_pool.hpp"

#include <algorithm>

namespace socketengine::detail {

buffer_pool::~buffer_pool() {
  for (auto& e : free_) delete[] e.data;
}

std::shared_ptr<char[]> buffer_pool::take(std::size_t size) {
  char* data = nullptr;
  std::size_t capacity = size;
  {
    std::lock_guard lk(mu_);
    auto fits = std::find_if(free_.begin(), free_.end(), [size](const entry& e) {
      return e.capacity >= size && e.capacity - size <= size / 8;
    });
    if (fits != free_.end()) {
      data = fits->data;
      capacity = fits->capacity;
      bytes_ -= capacity;
      free_.erase(fits);
    }
  }
  if (!data) data = new char[size];
  try {
    return std::shared_ptr<char[]>(data, [pool = weak_from_this(), capacity](char* p) {
      if (auto alive = pool.lock())
        alive->give_back(p, capacity);
      else
        delete[] p;
    });
  } catch (...) {
    delete[] data; // the shared state could not be allocated
    throw;
  }
}

void buffer_pool::give_back(char* data, std::size_t capacity) noexcept {
  {
    std::lock_guard lk(mu_);
    if (free_.size() < max_buffers_ && capacity <= max_bytes_ - std::min(bytes_, max_bytes_)) {
      try {
        free_.push_back({data, capacity, clock::now()});
        bytes_ += capacity;
        return;
      } catch (...) {
        // No room to note it: freed below.
      }
    }
  }
  delete[] data;
}

void buffer_pool::trim(clock::time_point now) noexcept {
  std::vector<char*> stale;
  {
    std::lock_guard lk(mu_);
    for (auto it = free_.begin(); it != free_.end();) {
      if (now - it->returned <= max_idle_) {
        ++it;
        continue;
      }
      try {
        stale.push_back(it->data);
      } catch (...) {
        ++it; // kept until the next trim
        continue;
      }
      bytes_ -= it->capacity;
      it = free_.erase(it);
    }
  }
  // Freed outside the lock: a megabyte given back to the system is slow.
  for (auto* p : stale) delete[] p;
}

std::size_t buffer_pool::held_bytes() const noexcept {
  std::lock_guard lk(mu_);
  return bytes_;
}

} // namespace socketengine::detail
