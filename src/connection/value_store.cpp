#include "connection/value_store.hpp"

#include <thread>

#include "util/utf8.hpp"

namespace socketengine::detail {

namespace {
// How long a wait watches for a store before it sleeps (see wait).
constexpr std::chrono::microseconds wait_spin{100};
} // namespace

value_store::value_store(std::size_t max_channels, bool (*exempt)(std::string_view) noexcept,
                         std::shared_ptr<memory_budget> budget)
    : max_channels_(max_channels), exempt_(exempt), budget_(std::move(budget)) {}

value_store::~value_store() {
  if (budget_) budget_->release(held_.load(std::memory_order_relaxed));
}

void value_store::recharge_locked(std::size_t was, std::size_t now) noexcept {
  if (was == now) return; // a stream of same-sized values costs no atomic
  held_.store(held_.load(std::memory_order_relaxed) - was + now, std::memory_order_relaxed);
  if (!budget_) return;
  if (now > was)
    budget_->charge(now - was);
  else
    budget_->release(was - now);
}

std::size_t value_store::drop_all() {
  std::size_t freed;
  {
    std::lock_guard lk(mu_);
    freed = held_.load(std::memory_order_relaxed);
    recharge_locked(freed, 0);
    values_.clear();
    limited_channels_ = 0;
    values_.rehash(0);
    image_ = image();
    stored_locked();
  }
  cv_.notify_all();
  return freed;
}

bool value_store::valid_channel(std::string_view channel) noexcept {
  // A line's channel was checked with the line, but a frame's is checked
  // only here, once, when the channel is first stored.
  return is_utf8(channel);
}

void value_store::stored_locked() noexcept {
  stores_.store(stores_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

value_store::refusal value_store::store(std::string_view channel, value&& v, std::size_t bytes) {
  return store_with(channel, [&](value& slot) { slot = std::move(v); }, bytes);
}

void value_store::store_image(image img, bool counted) {
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    // Decoded off the I/O thread, an image may come after the close, which
    // let go of the last one for good.
    if (closed_) return;
    recharge_locked(image_.size_bytes(), img.size_bytes());
    image_ = std::move(img);
    image_version_ = ++version_;
    stored_locked();
    if (counted)
      messages_.store(messages_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    wake = image_waiters_ > 0;
  }
  if (wake) cv_.notify_all();
}

void value_store::set_name(std::string name) {
  std::lock_guard lk(mu_);
  name_ = std::move(name);
}

void value_store::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    stored_locked();
    // A closed connection keeps its last values, small as lines are, but
    // not its last image: one may take max_pixels x 4 bytes, and up to
    // max_closed_connections closed connections stay listed.
    recharge_locked(image_.size_bytes(), 0);
    image_ = image();
  }
  cv_.notify_all();
}

template <class Pred>
bool value_store::wait(std::unique_lock<std::mutex>& lk,
                       std::chrono::steady_clock::time_point deadline, Pred&& ready) const {
  if (ready()) return true;
  auto seen = stores_.load(std::memory_order_relaxed);
  lk.unlock();
  spin_for_store(seen, deadline);
  lk.lock();
  return cv_.wait_until(lk, deadline, ready);
}

void value_store::spin_for_store(std::uint64_t seen,
                                 std::chrono::steady_clock::time_point deadline) const {
  auto until = std::min(deadline, std::chrono::steady_clock::now() + wait_spin);
  while (stores_.load(std::memory_order_acquire) == seen) {
    if (std::chrono::steady_clock::now() >= until) return;
    // Yielding lets the thread that will store run on this core, where
    // there are fewer cores than busy threads.
    std::this_thread::yield();
  }
}

std::optional<value> value_store::get(std::string_view channel) const {
  std::lock_guard lk(mu_);
  auto it = values_.find(channel);
  if (it == values_.end()) return std::nullopt;
  return it->second.data;
}

std::uint64_t value_store::version(std::string_view channel) const {
  std::lock_guard lk(mu_);
  auto it = values_.find(channel);
  return it == values_.end() ? 0 : it->second.version;
}

std::optional<value> value_store::wait_for(std::string_view channel,
                                           std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  auto registered = waited_channels_.add(channel);
  auto it = values_.end();
  wait(lk, deadline, [&] {
    it = values_.find(channel);
    return it != values_.end() || closed_;
  });
  if (it == values_.end()) return std::nullopt;
  return it->second.data;
}

std::optional<value> value_store::wait_for_next(std::string_view channel, std::uint64_t since,
                                                std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  auto registered = waited_channels_.add(channel);
  auto it = values_.end();
  bool fresh = wait(lk, deadline, [&] {
    it = values_.find(channel);
    return (it != values_.end() && it->second.version > since) || closed_;
  });
  if (!fresh || it == values_.end() || it->second.version <= since) return std::nullopt;
  return it->second.data;
}

std::optional<image> value_store::get_image() const {
  std::lock_guard lk(mu_);
  if (image_.empty()) return std::nullopt;
  return image_;
}

std::uint64_t value_store::image_version() const {
  std::lock_guard lk(mu_);
  return image_version_;
}

std::optional<image> value_store::wait_for_image(std::uint64_t since,
                                                 std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  ++image_waiters_;
  bool fresh = wait(lk, deadline, [&] { return image_version_ > since || closed_; });
  --image_waiters_;
  // A closed store has let go of its image (see close).
  if (!fresh || image_version_ <= since || image_.empty()) return std::nullopt;
  return image_;
}

std::string value_store::name() const {
  std::lock_guard lk(mu_);
  return name_;
}

std::size_t value_store::channels() const {
  std::lock_guard lk(mu_);
  return values_.size();
}

} // namespace socketengine::detail
