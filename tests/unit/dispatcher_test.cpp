// The callback thread: events run one at a time, in order, off the caller's
// thread; the queue's bounds drop and report; lifecycle events have their
// reserve; stop() runs what is queued, and works from a callback too.

#include "engine/dispatcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace socketengine::detail {
namespace {

using test::eventually;

// Holds the callback thread inside an event until released, so that what
// is posted meanwhile stays queued.
class gate {
public:
  void block(dispatcher& d) {
    d.post([this] {
      entered_.set_value();
      released_.get_future().wait();
    });
    entered_.get_future().wait();
  }
  void release() { released_.set_value(); }

private:
  std::promise<void> entered_;
  std::promise<void> released_;
};

TEST(dispatcher, runs_events_in_order_on_its_own_thread) {
  dispatcher d(100, 1 << 20, nullptr);
  std::mutex mu;
  std::vector<int> order;
  std::atomic<bool> on_thread{true};
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < 50; ++i)
    EXPECT_TRUE(d.post([&, i] {
      if (!d.on_thread() || std::this_thread::get_id() == caller) on_thread = false;
      std::lock_guard lk(mu);
      order.push_back(i);
    }));
  EXPECT_FALSE(d.on_thread());
  d.stop(); // runs what is queued first
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(on_thread);
}

TEST(dispatcher, drops_past_the_event_bound_and_reports_how_many) {
  std::atomic<std::size_t> reported{0};
  dispatcher d(3, 1 << 20, [&](std::size_t n) { reported += n; });
  gate g;
  g.block(d);
  std::atomic<int> ran{0};
  int taken = 0;
  for (int i = 0; i < 10; ++i) taken += d.post([&] { ++ran; }) ? 1 : 0;
  EXPECT_EQ(taken, 3);
  g.release();
  EXPECT_TRUE(eventually([&] { return reported.load() == 7; }));
  d.stop();
  EXPECT_EQ(ran.load(), 3);
}

TEST(dispatcher, drops_past_the_byte_bound_but_always_takes_one) {
  dispatcher d(100, 1000, nullptr);
  gate g;
  g.block(d);
  EXPECT_TRUE(d.post([] {}, 5000)); // alone in the queue: taken however large
  EXPECT_FALSE(d.post([] {}, 10));  // past the bytes now
  g.release();
  d.stop();
}

TEST(dispatcher, lifecycle_events_have_a_reserve_past_the_event_bound) {
  dispatcher d(2, 1 << 20, nullptr);
  gate g;
  g.block(d);
  EXPECT_TRUE(d.post([] {}));
  EXPECT_TRUE(d.post([] {}));
  EXPECT_FALSE(d.post([] {})); // messages are full
  EXPECT_TRUE(d.post([] {}, 0, /*lifecycle=*/true));
  EXPECT_TRUE(d.post([] {}, 0, /*lifecycle=*/true));
  EXPECT_FALSE(d.post([] {}, 0, /*lifecycle=*/true)); // the reserve too
  g.release();
  d.stop();
}

TEST(dispatcher, refuses_events_once_stopped) {
  dispatcher d(100, 1 << 20, nullptr);
  d.stop();
  EXPECT_FALSE(d.post([] {}));
  d.stop(); // again: nothing to do
}

TEST(dispatcher, stop_from_a_callback_ends_the_thread_after_that_callback) {
  auto d = std::make_unique<dispatcher>(100, 1 << 20, nullptr);
  std::promise<void> stopped;
  std::atomic<bool> after{false};
  gate g; // both events are queued before the first of them runs
  g.block(*d);
  d->post([&] {
    d->stop(); // cannot join itself: returns, and the thread ends after this
    stopped.set_value();
  });
  d->post([&] { after = true; }); // queued before the stop: still runs
  g.release();
  stopped.get_future().wait();
  d.reset(); // joins
  EXPECT_TRUE(after);
}

} // namespace
} // namespace socketengine::detail
