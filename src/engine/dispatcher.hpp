#pragma once
// The callback thread of an engine: runs user callbacks one at a time, in
// order, off the I/O thread, so a slow callback never stalls the sockets.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace socketengine::detail {

class dispatcher {
public:
  /// `limit`: most events queued; `on_overflow(dropped)` runs on the callback
  /// thread after events were dropped, with how many.
  dispatcher(std::size_t limit, std::function<void(std::size_t)> on_overflow);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// Queues `fn`. Returns false (and counts the drop) if the queue is full or
  /// the dispatcher has stopped.
  bool post(std::function<void()> fn);

  /// Runs what is queued, then ends the thread and joins it. From the
  /// callback thread itself it cannot join: the thread ends after the
  /// current callback returns and is detached.
  void stop();

  /// True on the callback thread.
  [[nodiscard]] bool on_thread() const noexcept;

private:
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    std::size_t limit;
    std::size_t dropped = 0;
    bool stopping = false;
    std::function<void(std::size_t)> on_overflow;
  };
  static void run(const std::shared_ptr<state>& st);

  // Shared with the thread, so the thread may outlive this object when
  // the engine is destroyed from inside one of its own callbacks.
  std::shared_ptr<state> st_;
  std::thread thread_;
  std::thread::id id_;
};

} // namespace socketengine::detail
