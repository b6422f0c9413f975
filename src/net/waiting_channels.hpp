#pragma once

// Which channels threads are waiting for, so that a stored value wakes only
// the waiters of its own channel: a reader waiting for "done" must not wake
// for every message of a flood on "x". Not synchronised: its owner guards it
// with the lock its waits use.

#include <algorithm>
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
    entry(std::vector<std::string>& list, std::string_view channel)
        : list_(list), channel_(channel) {
      list_.emplace_back(channel);
    }
    ~entry() { list_.erase(std::find(list_.begin(), list_.end(), channel_)); } // one of equals
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

  private:
    std::vector<std::string>& list_;
    std::string_view channel_;
  };

  /// Lists `channel` until the returned entry is destroyed.
  [[nodiscard]] entry add(std::string_view channel) { return entry(list_, channel); }

  /// True while some wait for `channel` is listed.
  [[nodiscard]] bool contains(std::string_view channel) const {
    return std::find(list_.begin(), list_.end(), channel) != list_.end();
  }

private:
  std::vector<std::string> list_; // one entry per waiting call
};

} // namespace socketengine::detail
