// Reconnection: a dialled connection (hub::connect, a client) that loses its
// link redials by itself and stays the same object; what is written while
// it is down follows the stated policy; the accepting side lets a returning
// peer take its old place; and 64 clients of a restarted host are all
// current again within twice the maximum backoff.

#include <gtest/gtest.h>

#include <socketengine/socketengine.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;
using test::round_trip;

// Redials every few tens of milliseconds at most: tests need not wait.
constexpr reconnect_options quick{.enabled = true, .min_backoff = 10ms, .max_backoff = 200ms};

hub_options server_on(std::uint16_t port) {
  return {.port = port, .bind_address = "127.0.0.1"};
}

// Every message a hub's callbacks saw, in order.
struct received {
  std::mutex mu;
  std::vector<std::pair<std::string, value>> messages;

  void watch(engine& e) {
    e.on_message([this](const std::shared_ptr<connection>&, const std::string& ch, const value& v) {
      std::lock_guard lk(mu);
      messages.emplace_back(ch, v);
    });
  }
  std::vector<value> on(const std::string& channel) {
    std::lock_guard lk(mu);
    std::vector<value> out;
    for (auto& [ch, v] : messages)
      if (ch == channel) out.push_back(v);
    return out;
  }
};

TEST(reconnect, a_dialled_connection_comes_back_as_the_same_object_when_its_hub_restarts) {
  auto server = std::make_unique<hub>(server_on(0));
  const auto port = server->port();
  std::atomic<int> downs{0}, ups{0}, disconnects{0}; // before the hub, whose handlers count
  hub robot({.listen = false, .reconnect = quick});
  robot.on_link_down([&](const std::shared_ptr<connection>&) { ++downs; });
  robot.on_link_up([&](const std::shared_ptr<connection>&) { ++ups; });
  robot.on_disconnect([&](const std::shared_ptr<connection>&) { ++disconnects; });

  auto c = robot.connect("robot", "127.0.0.1", port);
  auto from = server->wait_for_connection(patience);
  ASSERT_TRUE(from);
  from->write("before", 1);
  ASSERT_TRUE(c->wait_for("before", patience));
  auto version_before = c->version("before");

  server.reset(); // closes: the robot's link is lost
  ASSERT_TRUE(eventually([&] { return c->state() == link_state::reconnecting; }));
  EXPECT_TRUE(c->is_open());
  EXPECT_TRUE(eventually([&] { return downs == 1; }));
  EXPECT_EQ(c->get("before"), value(1)); // the last values stay readable
  // While down: the latest value per channel is kept, images are dropped.
  c->write("pose", 1);
  c->write("mode", "auto");
  c->write("pose", 2);
  EXPECT_EQ(c->write_image(test::pattern_image(8, 8, pixel_order::bgr, 1)), image_status::dropped);

  received got; // before the hub, whose callbacks use it until it closes
  hub again(server_on(port));
  got.watch(again);
  auto back = again.wait_for_connection(patience);
  ASSERT_TRUE(back);
  ASSERT_TRUE(eventually([&] { return c->state() == link_state::connected; }));
  EXPECT_TRUE(eventually([&] { return ups == 1; }));
  EXPECT_EQ(c->stats().reconnects, 1u);
  // Named again, and what was held arrives: the latest only, in the order
  // the channels were first written.
  ASSERT_TRUE(back->wait_for("mode", patience));
  EXPECT_EQ(back->name(), "robot");
  EXPECT_EQ(back->get("pose"), value(2));
  // Each held channel once, and only its latest value, through the
  // callbacks too. (The hub listens before its handler is set, so a fast
  // redial can deliver before it is: then nothing was recorded, which
  // proves nothing either way, but never more than one, nor pose 1.)
  EXPECT_LE(got.on("mode").size(), 1u);
  for (const auto& v : got.on("pose")) EXPECT_EQ(v, value(2));
  EXPECT_LE(got.on("pose").size(), 1u);
  EXPECT_EQ(again.get_by_name("robot", "pose"), std::vector<value>{value(2)});
  // Both ways, over the protocol negotiated afresh.
  round_trip(*c, *back);
  round_trip(*back, *c);
  EXPECT_TRUE(eventually([&] { return c->is_native(); }));
  EXPECT_EQ(c->version("before"), version_before);
  EXPECT_EQ(robot.connections().size(), 1u); // the same object, not a new one
  EXPECT_EQ(robot.connections().at(0), c);
  EXPECT_EQ(disconnects, 0);
}

TEST(reconnect, with_reconnection_off_a_lost_link_closes_the_connection) {
  auto server = std::make_unique<hub>(server_on(0));
  hub robot({.listen = false, .reconnect = {.enabled = false}});
  auto c = robot.connect("robot", "127.0.0.1", server->port());
  ASSERT_TRUE(server->wait_for_connection(patience));
  server.reset();
  ASSERT_TRUE(eventually([&] { return c->state() == link_state::closed; }));
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->close_reason(), errc::peer_closing);
}

TEST(reconnect, a_client_redials_its_host) {
  auto h = std::make_unique<host>(host_options{.port = 0});
  const auto port = h->port();
  h->start();
  client c({.port = port, .reconnect = quick});
  auto conn = c.connection();
  ASSERT_TRUE(h->wait_for_connection(patience));
  h.reset();
  ASSERT_TRUE(eventually([&] { return conn->state() == link_state::reconnecting; }));
  c.write("while_down", 7);
  host again({.port = port});
  again.start();
  auto back = again.wait_for_connection(patience);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->wait_for("while_down", patience), value(7));
  EXPECT_EQ(c.connection(), conn);
  back->write("hello", "again");
  EXPECT_EQ(c.wait_for("hello", patience), value("again"));
}

TEST(reconnect, a_reconnecting_connection_closes_at_once_and_so_does_its_engine) {
  auto server = std::make_unique<hub>(server_on(0));
  std::atomic<int> disconnects{0}; // before the hub, whose handler counts until it is gone
  // A backoff far longer than the test's timeout: if close waited for the
  // next attempt, the test would time out.
  auto robot = std::make_unique<hub>(
      hub_options{.listen = false, .reconnect = {.min_backoff = 1h, .max_backoff = 1h}});
  robot->on_disconnect([&](const std::shared_ptr<connection>&) { ++disconnects; });
  auto a = robot->connect("a", "127.0.0.1", server->port());
  auto b = robot->connect("b", "127.0.0.1", server->port());
  ASSERT_TRUE(server->wait_for_connections(2, patience));
  server.reset();
  ASSERT_TRUE(eventually([&] {
    return a->state() == link_state::reconnecting && b->state() == link_state::reconnecting;
  }));
  a->close();
  EXPECT_EQ(a->state(), link_state::closed);
  EXPECT_EQ(a->close_reason(), errc::closed_locally);
  std::error_code ec;
  a->write("x", 1, ec);
  EXPECT_EQ(ec, errc::not_connected);
  robot->close(); // b is still waiting out its backoff
  EXPECT_EQ(b->state(), link_state::closed);
  EXPECT_TRUE(eventually([&] { return disconnects == 2; }));
}

TEST(reconnect, a_returning_peer_takes_the_place_of_its_closed_predecessor) {
  hub server(server_on(0));
  {
    hub first({.listen = false});
    auto c = first.connect("robot", "127.0.0.1", server.port());
    c->write("x", 1);
    ASSERT_TRUE(eventually([&] { return server.get_by_name("robot", "x").size() == 1; }));
  } // gone: its connection on the server closes, and stays listed
  ASSERT_TRUE(eventually([&] { return !server.connections().at(0)->is_open(); }));
  EXPECT_EQ(server.get_by_name("robot", "x"), std::vector<value>{value(1)});
  hub second({.listen = false});
  auto c = second.connect("robot", "127.0.0.1", server.port());
  c->write("x", 2);
  ASSERT_TRUE(eventually([&] { return server.get_by_name("robot", "x") == std::vector<value>{value(2)}; }));
  EXPECT_EQ(server.get_all("x"), std::vector<value>{value(2)});
  EXPECT_EQ(server.write_to_name("robot", "hi", 1), 1u);
  // Another peer's closed connection is nobody's predecessor: it answers.
  {
    hub other({.listen = false});
    other.connect("other", "127.0.0.1", server.port())->write("x", 3);
    ASSERT_TRUE(eventually([&] { return server.get_by_name("other", "x").size() == 1; }));
  }
  ASSERT_TRUE(eventually([&] {
    auto cs = server.connections();
    return !cs.back()->is_open();
  }));
  EXPECT_EQ(server.get_all("x"), (std::vector<value>{value(2), value(3)}));
}

TEST(reconnect, sixty_four_clients_of_a_restarted_host_are_current_again_within_twice_the_max_backoff) {
  constexpr int clients = 64;
  constexpr reconnect_options policy{.enabled = true, .min_backoff = 50ms, .max_backoff = 1s};
  auto h = std::make_unique<host>(host_options{.port = 0});
  const auto port = h->port();
  h->start();
  std::vector<std::unique_ptr<client>> cs;
  std::vector<std::shared_ptr<connection>> conns;
  for (int i = 0; i < clients; ++i) {
    cs.push_back(std::make_unique<client>(client_options{.port = port, .reconnect = policy}));
    conns.push_back(cs.back()->connection());
  }
  ASSERT_TRUE(h->wait_for_connections(clients, patience));
  h->write_all("epoch", 1);
  ASSERT_TRUE(eventually([&] {
    for (auto& c : cs)
      if (c->get("epoch") != value(1)) return false;
    return true;
  }));
  h.reset();
  // Every client has noticed and backs off, its attempts refused.
  ASSERT_TRUE(eventually([&] {
    for (auto& c : conns)
      if (c->state() != link_state::reconnecting) return false;
    return true;
  }));
  // The host stays down for a while, as a restart does, long enough for
  // the backoff of every client to grow to its maximum. (The length of the
  // outage, not a wait for the network.)
  std::this_thread::sleep_for(3 * policy.max_backoff);
  host again({.port = port});
  again.on_connect([](const std::shared_ptr<connection>& c) { c->write("epoch", 2); });
  auto restarted = std::chrono::steady_clock::now();
  again.start();
  auto current = [&] {
    for (auto& c : cs)
      if (c->get("epoch") != value(2)) return false;
    return true;
  };
  ASSERT_TRUE(eventually(current, patience));
  auto took = std::chrono::steady_clock::now() - restarted;
  std::printf("all %d clients current again %.0f ms after the restart (max backoff %lld ms)\n",
              clients, std::chrono::duration<double, std::milli>(took).count(),
              static_cast<long long>(policy.max_backoff.count()));
  EXPECT_LE(took, 2 * policy.max_backoff);
  for (std::size_t i = 0; i < cs.size(); ++i) EXPECT_EQ(cs[i]->connection(), conns[i]);
  EXPECT_EQ(again.connections().size(), static_cast<std::size_t>(clients));
}

} // namespace
} // namespace socketengine
