// Callbacks: which events arrive, on which thread, and that user code that
// throws, blocks or closes the engine cannot break it.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <set>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;

TEST(callbacks, on_channel_on_message_connect_and_disconnect) {
  // State first: it must outlive the hub whose callbacks use it.
  std::mutex mu;
  std::vector<std::string> events;
  auto record = [&](std::string e) {
    std::lock_guard lk(mu);
    events.push_back(std::move(e));
  };
  hub centre({.port = 0});
  centre.on_connect([&](const std::shared_ptr<connection>&) { record("connect"); });
  centre.on_disconnect([&](const std::shared_ptr<connection>& c) {
    record("disconnect " + c->close_reason().message());
  });
  centre.on("temp", [&](const std::shared_ptr<connection>&, const value& v) {
    record("temp " + v.dump());
  });
  centre.on_message([&](const std::shared_ptr<connection>&, const std::string& ch, const value&) {
    record("any " + ch);
  });
  {
    hub peer({.port = 0});
    auto c = peer.connect("p", "127.0.0.1", centre.port());
    c->write("temp", 21.5);
    c->write("other", 1);
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return events.size() == 7;
  }));
  std::lock_guard lk(mu);
  EXPECT_EQ(events, (std::vector<std::string>{"connect", "any __name_conn", "temp 21.5",
                                              "any temp", "any other", "any __status",
                                              "disconnect peer sent __closing"}));
}

TEST(callbacks, run_on_one_thread_that_is_not_the_callers) {
  std::mutex mu;
  std::set<std::thread::id> ids;
  hub centre({.port = 0});
  centre.on_message([&](const std::shared_ptr<connection>&, const std::string&, const value&) {
    std::lock_guard lk(mu);
    ids.insert(std::this_thread::get_id());
  });
  hub peer({.port = 0});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  for (int i = 0; i < 100; ++i) c->write("n", i);
  ASSERT_TRUE(centre.wait_for_connection(patience)->wait_for("n", patience));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !ids.empty();
  }));
  std::lock_guard lk(mu);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(callbacks, exception_in_a_callback_is_reported_and_delivery_goes_on) {
  std::atomic<int> calls{0};
  std::promise<std::error_code> reported;
  hub centre({.port = 0});
  centre.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    if (ec == errc::handler_threw) reported.set_value(ec);
  });
  centre.on("boom", [&](const std::shared_ptr<connection>&, const value& v) {
    ++calls;
    if (v == 1) throw std::runtime_error("user bug");
  });
  hub peer({.port = 0});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  c->write("boom", 1);
  c->write("boom", 2);
  auto f = reported.get_future();
  ASSERT_EQ(f.wait_for(patience), std::future_status::ready);
  EXPECT_EQ(f.get(), errc::handler_threw);
  ASSERT_TRUE(eventually([&] { return calls == 2; }));
  EXPECT_TRUE(c->is_open());
}

TEST(callbacks, a_blocked_callback_does_not_stall_io) {
  std::latch release(1);
  std::latch entered(1);
  hub centre({.port = 0});
  centre.on("slow", [&](const std::shared_ptr<connection>&, const value&) {
    entered.count_down();
    release.wait();
  });
  hub peer({.port = 0});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  auto r = centre.wait_for_connection(patience);
  c->write("slow", 1);
  entered.wait();
  // The callback thread is stuck; values still arrive and replies still go.
  c->write("fast", 2);
  EXPECT_EQ(r->wait_for("fast", patience), value(2));
  r->write("reply", 3);
  EXPECT_EQ(c->wait_for("reply", patience), value(3));
  release.count_down();
}

TEST(callbacks, overflowing_the_callback_queue_drops_and_reports) {
  std::latch release(1);
  std::atomic<int> overflow_reports{0};
  hub centre({.port = 0, .limits = {.max_pending_callbacks = 10}});
  centre.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    if (ec == errc::callback_queue_overflow) ++overflow_reports;
  });
  centre.on("n", [&](const std::shared_ptr<connection>&, const value&) { release.wait(); });
  hub peer({.port = 0});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  auto r = centre.wait_for_connection(patience);
  for (int i = 0; i < 100; ++i) c->write("n", i);
  c->write("end", true);
  ASSERT_TRUE(r->wait_for("end", patience));
  EXPECT_EQ(r->get("n"), value(99)); // storage never drops
  release.count_down();
  ASSERT_TRUE(eventually([&] { return overflow_reports > 0; }));
}

TEST(callbacks, close_from_inside_a_callback) {
  std::promise<void> closed; // before the hub: its handler may run until the hub is gone
  auto centre = std::make_unique<hub>(hub_options{.port = 0});
  centre->on("quit", [&](const std::shared_ptr<connection>&, const value&) {
    centre->close();
    closed.set_value();
  });
  // The peer's connection ends with the centre's close, not redialled.
  hub peer({.port = 0, .reconnect = {.enabled = false}});
  auto c = peer.connect("p", "127.0.0.1", centre->port());
  c->write("quit", true);
  auto f = closed.get_future();
  ASSERT_EQ(f.wait_for(patience), std::future_status::ready);
  EXPECT_FALSE(centre->is_open());
  ASSERT_TRUE(eventually([&] { return !c->is_open(); }));
  EXPECT_EQ(c->close_reason(), errc::peer_closing);
  centre.reset();
}

TEST(callbacks, connection_close_from_inside_a_callback) {
  hub centre({.port = 0});
  centre.on("bye", [&](const std::shared_ptr<connection>& c, const value&) { c->close(); });
  hub peer({.port = 0, .reconnect = {.enabled = false}});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  c->write("bye", true);
  ASSERT_TRUE(eventually([&] { return !c->is_open(); }));
  EXPECT_EQ(c->close_reason(), errc::peer_closing);
  EXPECT_TRUE(centre.is_open());
}

TEST(callbacks, destroying_the_engine_inside_its_own_callback) {
  std::promise<void> done; // before the hub: its handler may run until the hub is gone
  auto centre = std::make_unique<hub>(hub_options{.port = 0});
  centre->on("die", [&](const std::shared_ptr<connection>&, const value&) {
    centre.reset();
    done.set_value();
  });
  hub peer({.port = 0, .reconnect = {.enabled = false}});
  auto c = peer.connect("p", "127.0.0.1", centre->port());
  c->write("die", true);
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(patience), std::future_status::ready);
  ASSERT_TRUE(eventually([&] { return !c->is_open(); }));
}

TEST(callbacks, writes_from_a_callback_reach_the_peer) {
  hub centre({.port = 0});
  centre.on("ping", [](const std::shared_ptr<connection>& c, const value& v) {
    c->write("pong", v.get<int>() + 1);
  });
  hub peer({.port = 0});
  auto c = peer.connect("p", "127.0.0.1", centre.port());
  for (int i = 0; i < 50; ++i) {
    auto since = c->version("pong");
    c->write("ping", i);
    ASSERT_EQ(c->wait_for_next("pong", patience, since), value(i + 1));
  }
}

} // namespace
} // namespace socketengine
