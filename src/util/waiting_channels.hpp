#pragma once

// Which channels threads are waiting for, so that a stored value wakes only
// the waiters of its own channel: a reader waiting for "done" must not wake
// for every message of a flood on "x". Not synchronised: its owner guards it
// with the lock its waits use.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace socketengine::detail {

class waiting_channels {
public:
  /// Keeps one channel listed while it lives, however the wait ends
  /// (exceptions included). Made and destroyed under the owner's lock.
  class entry {
  public:
    entry(waiting_channels& owner, std::string_view channel) : owner_(owner), channel_(channel) {
      owner_.list_.emplace_back(channel);
      owner_.count_.fetch_add(1, std::memory_order_seq_cst);
    }
    ~entry() {
      auto& list = owner_.list_;
      list.erase(std::find(list.begin(), list.end(), channel_)); // one of equals
      owner_.count_.fetch_sub(1, std::memory_order_relaxed);
    }
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

  private:
    waiting_channels& owner_;
    std::string_view channel_;
  };

  /// Lists `channel` until the returned entry is destroyed.
  [[nodiscard]] entry add(std::string_view channel) { return entry(*this, channel); }

  /// Whether any wait may be listed, without the owner's lock: a notifier
  /// that stored a value and then finds none (after a seq_cst fence) may
  /// skip the lock, since a wait listed later checks for the value after
  /// listing itself. Saves a lock per message when nobody waits.
  [[nodiscard]] bool maybe_any() const noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return count_.load(std::memory_order_relaxed) != 0;
  }

  /// True while some wait for `channel` is listed.
  [[nodiscard]] bool contains(std::string_view channel) const {
    return std::find(list_.begin(), list_.end(), channel) != list_.end();
  }

private:
  std::vector<std::string> list_; // one entry per waiting call
  std::atomic<std::size_t> count_{0};
};

} // namespace socketengine::detail
