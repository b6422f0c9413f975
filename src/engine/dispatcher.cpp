#include "engine/dispatcher.hpp"

namespace socketengine::detail {

dispatcher::dispatcher(std::size_t limit, std::function<void(std::size_t)> on_overflow)
    : st_(std::make_shared<state>()) {
  st_->limit = limit == 0 ? 1 : limit;
  st_->on_overflow = std::move(on_overflow);
  thread_ = std::thread([st = st_] { run(st); });
  id_ = thread_.get_id();
}

dispatcher::~dispatcher() { stop(); }

bool dispatcher::post(std::function<void()> fn) {
  {
    std::lock_guard lk(st_->mu);
    if (st_->stopping) return false;
    if (st_->queue.size() >= st_->limit) {
      ++st_->dropped;
      return false;
    }
    st_->queue.push_back(std::move(fn));
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
    auto fn = std::move(st->queue.front());
    st->queue.pop_front();
    lk.unlock();
    fn(); // callers wrap user code in try/catch
    fn = nullptr; // release captures before taking the lock again
    lk.lock();
  }
}

void dispatcher::stop() {
  {
    std::lock_guard lk(st_->mu);
    st_->stopping = true;
  }
  st_->cv.notify_all();
  if (!thread_.joinable()) return;
  if (on_thread())
    thread_.detach();
  else
    thread_.join();
}

bool dispatcher::on_thread() const noexcept { return std::this_thread::get_id() == id_; }

} // namespace socketengine::detail
