#include "engine/dispatcher.hpp"

namespace socketengine::detail {

dispatcher::dispatcher(std::size_t max_events, std::size_t max_bytes,
                       std::function<void(std::size_t)> on_overflow)
    : st_(std::make_shared<state>()) {
  st_->max_events = max_events == 0 ? 1 : max_events;
  st_->max_bytes = max_bytes;
  st_->on_overflow = std::move(on_overflow);
  thread_ = std::thread([st = st_] { run(st); });
  id_ = thread_.get_id();
}

dispatcher::~dispatcher() {
  stop();
  std::lock_guard lk(join_mu_);
  // Only left joinable when the engine is destroyed from one of its own
  // callbacks: the thread finishes that callback and ends on its own, and
  // holds the state it needs.
  if (thread_.joinable()) thread_.detach();
}

bool dispatcher::post(std::function<void()> fn, std::size_t bytes, bool lifecycle) {
  {
    std::lock_guard lk(st_->mu);
    if (st_->stopping) return false;
    bool full = lifecycle ? st_->queue.size() >= 2 * st_->max_events
                          : st_->queue.size() >= st_->max_events ||
                                (!st_->queue.empty() && st_->queued_bytes + bytes > st_->max_bytes);
    if (full) {
      ++st_->dropped;
      return false;
    }
    st_->queue.push_back({std::move(fn), bytes});
    st_->queued_bytes += bytes;
  }
  st_->cv.notify_one();
  return true;
}

void dispatcher::run(const std::shared_ptr<state>& st) {
  std::unique_lock lk(st->mu);
  for (;;) {
    st->cv.wait(lk, [&] { return st->stopping || !st->queue.empty() || st->dropped > 0; });
    if (st->dropped > 0) {
      std::size_t n = st->dropped;
      st->dropped = 0;
      lk.unlock();
      if (st->on_overflow) st->on_overflow(n);
      lk.lock();
      continue;
    }
    if (st->queue.empty()) return; // stopping, and everything ran
    auto ev = std::move(st->queue.front());
    st->queue.pop_front();
    st->queued_bytes -= ev.bytes;
    lk.unlock();
    ev.fn();         // callers wrap user code in try/catch
    ev.fn = nullptr; // release captures before taking the lock again
    lk.lock();
  }
}

void dispatcher::stop() {
  {
    std::lock_guard lk(st_->mu);
    st_->stopping = true;
  }
  st_->cv.notify_all();
  if (on_thread()) return;
  std::lock_guard lk(join_mu_);
  if (thread_.joinable()) thread_.join();
}

bool dispatcher::on_thread() const noexcept { return std::this_thread::get_id() == id_; }

} // namespace socketengine::detail
