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
  /// `max_events` / `max_bytes`: bounds on what may wait (bytes as the
  /// poster estimates them). `on_overflow(dropped)` runs on the callback
  /// thread after events were dropped, with how many.
  dispatcher(std::size_t max_events, std::size_t max_bytes,
             std::function<void(std::size_t)> on_overflow);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// Queues `fn`, weighing `bytes`. An event is dropped (and counted) when
  /// the queue is at its bounds. Lifecycle events (connect, disconnect) get
  /// a reserve past the event bound, as large again, so a flood of messages
  /// cannot push them out; only a callback thread stuck through that many
  /// connections coming and going loses them. Returns false if dropped or
  /// the dispatcher has stopped.
  bool post(std::function<void()> fn, std::size_t bytes = 0, bool lifecycle = false);

  /// Runs what is queued, then ends the thread and joins it; every caller
  /// returns only once the thread is done. From the callback thread itself
  /// it cannot join: it only asks the thread to end after the current
  /// callback.
  void stop();

  /// True on the callback thread.
  [[nodiscard]] bool on_thread() const noexcept;

private:
  struct event {
    std::function<void()> fn;
    std::size_t bytes;
  };
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<event> queue;
    std::size_t queued_bytes = 0;
    std::size_t max_events;
    std::size_t max_bytes;
    std::size_t dropped = 0;
    bool stopping = false;
    std::function<void(std::size_t)> on_overflow;
  };
  static void run(const std::shared_ptr<state>& st);

  // Shared with the thread, so the thread may outlive this object when
  // the engine is destroyed from inside one of its own callbacks.
  std::shared_ptr<state> st_;
  std::mutex join_mu_; // serialises joining thread_
  std::thread thread_;
  std::thread::id id_;
};

} // namespace socketengine::detail
