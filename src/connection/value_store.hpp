#pragma once
// What a connection received and keeps: the latest value per channel with
// its version, the latest image, the peer's name, and the waits on them.
//
// Threading: the I/O thread stores; any thread reads and waits. Everything
// is guarded by one lock of its own, never held while calling out. A stored
// value wakes only the waits on its own channel (see waiting_channels).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

#include "util/memory_budget.hpp"
#include "util/waiting_channels.hpp"

namespace socketengine::detail {

class value_store {
public:
  /// Why a value was not stored.
  enum class refusal {
    none,             ///< stored
    invalid_channel,  ///< a new channel whose name is not UTF-8
    too_many_channels ///< a new channel past max_channels
  };

  /// `max_channels`: most distinct channels kept; those for which `exempt`
  /// answers true may always be stored (reserved channels).
  /// Charges what it keeps to `budget` (may be null) until dropped or
  /// destroyed.
  value_store(std::size_t max_channels, bool (*exempt)(std::string_view) noexcept,
              std::shared_ptr<memory_budget> budget = nullptr);
  ~value_store();
  value_store(const value_store&) = delete;
  value_store& operator=(const value_store&) = delete;

  // --- the I/O thread -------------------------------------------------------
  /// Stores `v` on `channel` and wakes its waits; `bytes`: what it takes,
  /// as charged to the budget (its size on the wire is near enough).
  refusal store(std::string_view channel, value&& v, std::size_t bytes);

  /// Stores what `assign(value& slot)` puts in the channel's slot (the
  /// last value, or null for a new channel), as store() does. `assign`
  /// runs under the lock and must not call out.
  template <class Assign>
  refusal store_with(std::string_view channel, Assign&& assign, std::size_t bytes);

  /// Stores the latest image; `counted`: it counts as a message.
  void store_image(image img, bool counted);

  void set_name(std::string name);

  /// Forgets every value and the image (the engine's budget is spent and
  /// these are the stalest), waking waits; returns the bytes given back.
  std::size_t drop_all();

  /// The connection closed: wakes every wait (which then return what is
  /// there) and lets go of the image, which may be large; values stay.
  void close();

  // --- any thread -------------------------------------------------------------
  [[nodiscard]] std::optional<value> get(std::string_view channel) const;
  /// 0 if `channel` has no value.
  [[nodiscard]] std::uint64_t version(std::string_view channel) const;
  /// The value on `channel`, waiting for one until `deadline`; empty if none
  /// came before it or the close.
  [[nodiscard]] std::optional<value> wait_for(std::string_view channel,
                                              std::chrono::steady_clock::time_point deadline) const;
  /// The value on `channel` once its version is past `since`; empty on
  /// deadline or close.
  [[nodiscard]] std::optional<value> wait_for_next(std::string_view channel, std::uint64_t since,
                                                   std::chrono::steady_clock::time_point deadline) const;

  /// The latest image; empty if none, or once closed.
  [[nodiscard]] std::optional<image> get_image() const;
  [[nodiscard]] std::uint64_t image_version() const;
  /// The latest image once its version is past `since`; empty on deadline
  /// or close.
  [[nodiscard]] std::optional<image> wait_for_image(std::uint64_t since,
                                                    std::chrono::steady_clock::time_point deadline) const;

  [[nodiscard]] std::string name() const;

  /// Messages stored (values, and counted images).
  [[nodiscard]] std::uint64_t messages() const noexcept {
    return messages_.load(std::memory_order_relaxed);
  }

  /// Channels with a value, for tests and accounting.
  [[nodiscard]] std::size_t channels() const;

  /// Bytes kept (values and image), as charged to the budget.
  [[nodiscard]] std::size_t held_bytes() const noexcept {
    return held_.load(std::memory_order_relaxed);
  }

private:
  struct entry {
    value data;
    std::uint64_t version;
    std::size_t bytes; // charged
  };
  /// With mu_ held: what is kept changed from `was` to `now` bytes.
  void recharge_locked(std::size_t was, std::size_t now) noexcept;
  // Lets the map be searched with a string_view without building a string.
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  /// Waits on cv_, with mu_ held by `lk`, until `ready()` or the deadline;
  /// returns ready(). Before sleeping it watches for a store for up to
  /// 100 microseconds: a reply that comes that soon (a request/response over
  /// a fast link) is then picked up without the I/O thread waking this one,
  /// which costs as much again as the reply's trip over loopback.
  template <class Pred>
  bool wait(std::unique_lock<std::mutex>& lk, std::chrono::steady_clock::time_point deadline,
            Pred&& ready) const;
  void spin_for_store(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const;
  [[nodiscard]] static bool valid_channel(std::string_view channel) noexcept;
  /// With mu_ held: one more store happened (for spinning waits).
  void stored_locked() noexcept;

  const std::size_t max_channels_;
  bool (*const exempt_)(std::string_view) noexcept;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::unordered_map<std::string, entry, string_hash, std::equal_to<>> values_;
  // Channels in values_ that count against max_channels: the exempt ones
  // (a peer's name, say) do not, so a limit of N is N of the peer's own.
  std::size_t limited_channels_ = 0;
  std::uint64_t version_ = 0;
  // Counts stores (and the close), for waits that spin (see wait).
  std::atomic<std::uint64_t> stores_{0};
  std::atomic<std::uint64_t> messages_{0};
  std::shared_ptr<memory_budget> budget_;
  std::atomic<std::size_t> held_{0}; // written under mu_
  image image_; // the latest image; empty if none
  std::uint64_t image_version_ = 0;
  std::string name_;
  bool closed_ = false;
  // Who is waiting: values wake only their channel's waits; images count
  // theirs.
  mutable waiting_channels waited_channels_;
  mutable std::size_t image_waiters_ = 0;
};

template <class Assign>
value_store::refusal value_store::store_with(std::string_view channel, Assign&& assign,
                                             std::size_t bytes) {
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    auto it = values_.find(channel);
    if (it == values_.end()) {
      if (!valid_channel(channel)) return refusal::invalid_channel;
      bool limited = !exempt_(channel);
      if (limited && limited_channels_ >= max_channels_) return refusal::too_many_channels;
      it = values_.emplace(channel, entry{value(), 0, 0}).first;
      limited_channels_ += limited ? 1 : 0;
    }
    assign(it->second.data);
    bytes += channel.size();
    recharge_locked(it->second.bytes, bytes);
    it->second.bytes = bytes;
    it->second.version = ++version_;
    stored_locked();
    // Counted before waiters wake, so a reader that saw the value sees the
    // count. Written under the lock, so no locked read-modify-write.
    messages_.store(messages_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Only a reader of this channel is woken: one waiting for "done" while
    // thousands of values flow on "x" would otherwise wake for each.
    wake = waited_channels_.contains(channel);
  }
  if (wake) cv_.notify_all();
  return refusal::none;
}

} // namespace socketengine::detail
