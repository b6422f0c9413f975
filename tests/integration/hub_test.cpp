// Hubs talking to hubs over loopback.

#include <gtest/gtest.h>

#include <csignal>
#include <future>
#include <spawn.h>
#include <sys/wait.h>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;

hub_options any_port() { return {.port = 0}; }

std::string peer_name(int i) { return test::numbered("p", i); }

TEST(hub, dialled_peer_gets_the_name_and_values_flow_both_ways) {
  hub listener(any_port());
  hub dialler(any_port());
  auto local = dialler.connect("hello!", "127.0.0.1", listener.port());
  ASSERT_TRUE(local);
  EXPECT_EQ(local->name(), "hello!");
  EXPECT_EQ(local->kind(), connection_kind::local);
  EXPECT_EQ(local->address(), "127.0.0.1");
  EXPECT_EQ(local->port(), listener.port());

  auto remote = listener.wait_for_connection(patience);
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->kind(), connection_kind::remote);
  EXPECT_EQ(remote->address(), "127.0.0.1");
  ASSERT_TRUE(remote->wait_for("__name_conn", patience));
  EXPECT_EQ(remote->name(), "hello!");

  EXPECT_EQ(listener.write_all("test", "hubs are connected"), 1u);
  EXPECT_EQ(dialler.wait_for("test", patience), std::vector<value>{"hubs are connected"});
  EXPECT_EQ(dialler.get_all("test"), std::vector<value>{"hubs are connected"});

  local->write("pose", {{"x", 1.5}, {"y", -2}, {"ok", true}, {"tags", {"a", "b"}}});
  auto pose = remote->wait_for("pose", patience);
  ASSERT_TRUE(pose);
  EXPECT_EQ((*pose)["x"], 1.5);
  EXPECT_EQ((*pose)["tags"][1], "b");
  EXPECT_EQ(remote->get_as<bool>("nothing"), std::nullopt);
}

TEST(hub, a_hub_that_does_not_listen_only_dials) {
  hub listener(any_port());
  hub_options dial_only;
  dial_only.listen = false;
  hub dialler(dial_only);
  EXPECT_EQ(dialler.port(), 0);
  auto local = dialler.connect("cam", "127.0.0.1", listener.port());
  ASSERT_TRUE(local);
  auto remote = listener.wait_for_connection(patience);
  ASSERT_TRUE(remote);
  local->write("speed", "3.5");
  EXPECT_EQ(remote->wait_for("speed", patience), value("3.5"));
  EXPECT_EQ(remote->name(), "cam");
}

TEST(hub, get_returns_the_latest_value_per_channel) {
  hub a(any_port());
  hub b(any_port());
  auto c = b.connect("n", "127.0.0.1", a.port());
  auto r = a.wait_for_connection(patience);
  for (int i = 0; i < 1000; ++i) c->write("counter", i);
  c->write("done", true);
  ASSERT_TRUE(r->wait_for("done", patience));
  EXPECT_EQ(r->get("counter"), value(999));
  EXPECT_EQ(r->get("missing"), std::nullopt);
  EXPECT_TRUE(a.get_all("missing").empty());
  EXPECT_EQ(r->stats().messages_in, 1002u); // __name_conn, 1000 counters, done
}

TEST(hub, local_and_remote_mean_the_same_for_readers_and_writers) {
  hub centre(any_port());
  hub upstream(any_port());   // centre dials it: local to centre
  hub downstream(any_port()); // dials centre: remote to centre
  auto up = centre.connect("up", "127.0.0.1", upstream.port());
  downstream.connect("down", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  auto up_side = upstream.wait_for_connection(patience);
  auto down_side = downstream.connections().at(0);

  EXPECT_EQ(centre.write_to_local("where", "local"), 1u);
  EXPECT_EQ(centre.write_to_remote("where", "remote"), 1u);
  EXPECT_EQ(up_side->wait_for("where", patience), value("local"));
  EXPECT_EQ(down_side->wait_for("where", patience), value("remote"));

  up_side->write("from", "up");
  down_side->write("from", "down");
  ASSERT_TRUE(eventually([&] { return centre.get_all("from").size() == 2; }));
  EXPECT_EQ(centre.get_local("from"), std::vector<value>{"up"});
  EXPECT_EQ(centre.get_remote("from"), std::vector<value>{"down"});
  // get_all keeps the order the connections were made: "up" was dialled first.
  EXPECT_EQ(centre.get_all("from"), (std::vector<value>{"up", "down"}));
}

TEST(hub, names_select_readers_and_writers) {
  hub centre(any_port());
  hub a(any_port()), b(any_port()), c(any_port());
  a.connect("cam", "127.0.0.1", centre.port());
  b.connect("cam", "127.0.0.1", centre.port());
  c.connect("arm", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(3, patience));
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return std::all_of(cs.begin(), cs.end(), [](auto& x) { return !x->name().empty(); });
  }));
  EXPECT_EQ(centre.write_to_name("cam", "cmd", "snap"), 2u);
  EXPECT_EQ(a.connections()[0]->wait_for("cmd", patience), value("snap"));
  EXPECT_EQ(b.connections()[0]->wait_for("cmd", patience), value("snap"));
  EXPECT_EQ(c.connections()[0]->wait_for("cmd", 100ms), std::nullopt);

  a.connections()[0]->write("fps", 30);
  c.connections()[0]->write("fps", 5);
  ASSERT_TRUE(eventually([&] { return centre.get_all("fps").size() == 2; }));
  EXPECT_EQ(centre.get_by_name("cam", "fps"), std::vector<value>{30});
  EXPECT_EQ(centre.get_by_name("arm", "fps"), std::vector<value>{5});
  EXPECT_TRUE(centre.get_by_name("nobody", "fps").empty());
}

TEST(hub, names_match_whole_never_by_prefix) {
  // "cam" is a prefix of "camera", and "ca" a prefix of both but the name
  // of none: each must reach exactly its own.
  hub centre(any_port());
  hub cam(any_port()), camera(any_port());
  cam.connect("cam", "127.0.0.1", centre.port());
  camera.connect("camera", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return std::all_of(cs.begin(), cs.end(), [](auto& x) { return !x->name().empty(); });
  }));
  auto named = [&](std::string_view n) {
    for (auto& c : centre.connections())
      if (c->name() == n) return c;
    return std::shared_ptr<connection>();
  };
  auto to_cam = named("cam"), to_camera = named("camera");
  ASSERT_TRUE(to_cam && to_camera);
  auto at_cam = cam.connections()[0];
  auto at_camera = camera.connections()[0];
  test::round_trip(*at_cam, *to_cam);
  test::round_trip(*at_camera, *to_camera);

  // Readers.
  at_cam->write("id", "cam");
  at_camera->write("id", "camera");
  ASSERT_TRUE(eventually([&] { return centre.get_all("id").size() == 2; }));
  EXPECT_EQ(centre.get_by_name("cam", "id"), std::vector<value>{"cam"});
  EXPECT_EQ(centre.get_by_name("camera", "id"), std::vector<value>{"camera"});
  EXPECT_TRUE(centre.get_by_name("ca", "id").empty());

  // Writers of values.
  EXPECT_EQ(centre.write_to_name("cam", "to", "cam"), 1u);
  EXPECT_EQ(centre.write_to_name("camera", "to", "camera"), 1u);
  EXPECT_EQ(centre.write_to_name("ca", "to", "nobody"), 0u);
  EXPECT_EQ(at_cam->wait_for("to", patience), value("cam"));
  EXPECT_EQ(at_camera->wait_for("to", patience), value("camera"));
  test::round_trip(*to_cam, *at_cam); // anything else would have come by now
  test::round_trip(*to_camera, *at_camera);
  EXPECT_EQ(at_cam->get("to"), value("cam"));
  EXPECT_EQ(at_camera->get("to"), value("camera"));

  // Writers of images.
  auto small = image(4, 2, pixel_order::gray);
  EXPECT_EQ(centre.write_image_to_name("ca", small), 0u);
  EXPECT_EQ(centre.write_image_to_name("camera", small), 1u);
  ASSERT_TRUE(at_camera->wait_for_image(patience));
  test::round_trip(*to_cam, *at_cam);
  EXPECT_FALSE(at_cam->get_image());
}

TEST(hub, connections_are_listed_in_the_order_made) {
  hub centre(any_port());
  std::vector<std::unique_ptr<hub>> peers;
  for (int i = 0; i < 5; ++i) {
    peers.push_back(std::make_unique<hub>(any_port()));
    peers.back()->connect(peer_name(i), "127.0.0.1", centre.port());
    ASSERT_TRUE(centre.wait_for_connections(static_cast<std::size_t>(i) + 1, patience));
  }
  for (int i = 0; i < 5; ++i) peers[static_cast<std::size_t>(i)]->write_all("i", i);
  ASSERT_TRUE(eventually([&] { return centre.get_all("i").size() == 5; }));
  EXPECT_EQ(centre.get_all("i"), (std::vector<value>{0, 1, 2, 3, 4}));
  EXPECT_EQ(centre.get_connections().size(), 5u);
}

TEST(hub, hundred_connections_on_one_hub) {
  hub centre(any_port());
  std::vector<std::unique_ptr<hub>> peers;
  for (int i = 0; i < 100; ++i) {
    peers.push_back(std::make_unique<hub>(any_port()));
    peers.back()->connect(peer_name(i), "127.0.0.1", centre.port());
  }
  ASSERT_TRUE(centre.wait_for_connections(100, patience));
  for (int i = 0; i < 100; ++i) peers[static_cast<std::size_t>(i)]->write_all("id", i);
  ASSERT_TRUE(eventually([&] { return centre.get_all("id").size() == 100; }));
  EXPECT_EQ(centre.write_all("ack", "all"), 100u);
  for (auto& p : peers) EXPECT_EQ(p->connections()[0]->wait_for("ack", patience), value("all"));
}

// Each protocol in its own run: closing right after connecting, whether the
// link is still legacy or already native would depend on timing.
class hub_closing : public ::testing::TestWithParam<bool> {};

TEST_P(hub_closing, sends_closing_and_the_peer_marks_the_connection_closed) {
  const bool native = GetParam();
  hub a(any_port());
  auto b = std::make_unique<hub>(hub_options{.port = 0, .native = native});
  auto local = b->connect("x", "127.0.0.1", a.port());
  auto remote = a.wait_for_connection(patience);
  ASSERT_TRUE(remote);
  if (native) {
    ASSERT_TRUE(eventually([&] { return local->is_native() && remote->is_native(); }));
  } else {
    // A legacy peer never answers the offer: the link stays legacy.
    ASSERT_EQ(remote->wait_for("__name_conn", patience), value("x"));
  }
  local->write("last", "words");
  b->close();
  EXPECT_FALSE(b->is_open());
  EXPECT_FALSE(local->is_open());
  EXPECT_EQ(local->close_reason(), errc::closed_locally);
  ASSERT_TRUE(eventually([&] { return !remote->is_open(); }));
  EXPECT_EQ(remote->close_reason(), errc::peer_closing);
  // What arrived before the close stays readable, on a closed connection.
  EXPECT_EQ(remote->get("last"), value("words"));
  EXPECT_EQ(remote->get("__status"), value("__closing"));
  EXPECT_EQ(a.get_all("last"), std::vector<value>{"words"});
  std::error_code ec;
  remote->write("late", 1, ec);
  EXPECT_EQ(ec, errc::not_connected);
  EXPECT_THROW(remote->write("late", 1), std::system_error);
  // Closed engines close idempotently, and the handle outlives the engine.
  b->close();
  b.reset();
  EXPECT_EQ(local->get("nothing"), std::nullopt);
  EXPECT_FALSE(local->is_open());
  EXPECT_EQ(remote->is_native(), native);
}

INSTANTIATE_TEST_SUITE_P(hub, hub_closing, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "native" : "legacy"; });

TEST(hub, closing_one_connection_leaves_the_others_open) {
  hub centre(any_port());
  hub a(any_port()), b(any_port());
  auto ca = a.connect("a", "127.0.0.1", centre.port());
  b.connect("b", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  ca->close();
  EXPECT_FALSE(ca->is_open());
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return !cs[0]->is_open();
  }));
  EXPECT_TRUE(centre.connections()[1]->is_open());
  EXPECT_EQ(centre.write_all("still", "here"), 1u);
  EXPECT_EQ(b.connections()[0]->wait_for("still", patience), value("here"));
}

TEST(hub, close_flushes_queued_writes) {
  hub a(any_port());
  // Time enough for the flush on a loaded machine: the test is about what
  // close() sends, not how long it waits.
  hub b({.port = 0, .timeout = patience});
  auto c = b.connect("x", "127.0.0.1", a.port());
  auto r = a.wait_for_connection(patience);
  std::string big(1 << 20, 'q');
  for (int i = 0; i < 8; ++i) c->write(test::numbered("big", i), big);
  c->write("tail", "end");
  b.close();
  ASSERT_TRUE(r->wait_for("tail", patience));
  EXPECT_EQ(r->get("big7"), value(big));
}

TEST(hub, peer_reset_marks_the_connection_closed) {
  hub a(any_port());
  test::raw_peer peer;
  peer.connect(a.port());
  auto r = a.wait_for_connection(patience);
  ASSERT_TRUE(r);
  peer.send("{\"type\":\"half\",\"da");
  peer.reset();
  ASSERT_TRUE(eventually([&] { return !r->is_open(); }));
  EXPECT_EQ(r->close_reason(), std::errc::connection_reset);
  EXPECT_EQ(r->get("half"), std::nullopt);
}

TEST(hub, peer_killed_mid_line_does_not_disturb_other_connections) {
  hub a(any_port());
  hub good(any_port());
  auto g = good.connect("good", "127.0.0.1", a.port());
  {
    test::raw_peer peer;
    peer.connect(a.port());
    ASSERT_TRUE(a.wait_for_connections(2, patience));
    peer.send("{\"type\":\"x\",\"data\":\"" + std::string(100000, 'a'));
    // Read first: closing with unread input would send a reset, not EOF.
    peer.expect_native_offer();
    peer.close(); // EOF in the middle of a line
  }
  ASSERT_TRUE(eventually([&] { return !a.connections()[1]->is_open(); }));
  EXPECT_EQ(a.connections()[1]->close_reason(), errc::peer_eof);
  g->write("alive", 1);
  EXPECT_EQ(a.connections()[0]->wait_for("alive", patience), value(1));
}

TEST(hub, explicit_port_in_use_throws_naming_the_port) {
  hub a(any_port());
  try {
    hub b({.port = a.port()});
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find(std::to_string(a.port())), std::string::npos) << e.what();
  }
}

TEST(hub, a_child_process_does_not_keep_the_port_after_close) {
  std::uint16_t port;
  pid_t child = -1;
  {
    hub a(any_port());
    hub b(any_port());
    b.connect("x", "127.0.0.1", a.port());
    ASSERT_TRUE(a.wait_for_connection(patience));
    port = a.port();
    char sleep_arg[] = "30";
    char prog[] = "/bin/sleep";
    char* argv[] = {prog, sleep_arg, nullptr};
    ASSERT_EQ(posix_spawn(&child, prog, nullptr, nullptr, argv, environ), 0);
  }
  // The child inherited no descriptor, so the port is free again at once.
  std::error_code ec;
  try {
    hub again({.port = port});
  } catch (const std::system_error& e) {
    ec = e.code();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(hub, default_port_is_the_first_free_from_8080) {
  hub a;
  EXPECT_GE(a.port(), 8080);
  EXPECT_LE(a.port(), 8179);
  hub b;
  EXPECT_NE(a.port(), b.port());
  EXPECT_GE(b.port(), 8080);
  EXPECT_LE(b.port(), 8179);
}

TEST(hub, ipv6_loopback_works) {
  hub a({.port = 0, .bind_address = "::1"});
  hub b(any_port());
  auto c = b.connect("six", "::1", a.port());
  ASSERT_TRUE(c);
  c->write("v", 6);
  auto r = a.wait_for_connection(patience);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->wait_for("v", patience), value(6));
  EXPECT_EQ(r->address(), "::1");
}

// A port that is bound but not listening: connecting to it is refused, and
// no other test can take it while this lives.
struct refusing_port {
  refusing_port() : acceptor(io) {
    acceptor.open(asio::ip::tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
};

TEST(hub, connect_retries_until_the_peer_listens) {
  refusing_port target;
  hub dialler({.port = 0, .connect_timeout = 10s});
  std::shared_ptr<connection> c;
  std::thread t([&] { c = dialler.connect("late", "127.0.0.1", target.port()); });
  // Not a wait for the network: it gives the dialler time to be refused at
  // least once before the port starts listening.
  std::this_thread::sleep_for(50ms);
  target.acceptor.listen();
  test::raw_peer accepted;
  accepted.accept(target.acceptor);
  t.join();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->is_open());
  EXPECT_EQ(accepted.read_line(), R"({"type":"__name_conn","data":"late"})");
}

TEST(hub, keep_waiting_abandons_a_connect_and_is_asked_while_it_waits) {
  refusing_port target;
  hub dialler({.port = 0, .connect_timeout = std::chrono::milliseconds::max()});
  int asked = 0;
  std::error_code ec;
  auto c = dialler.connect("n", "127.0.0.1", target.port(), ec, [&] { return ++asked < 3; });
  EXPECT_FALSE(c);
  EXPECT_EQ(ec, std::errc::operation_canceled);
  EXPECT_EQ(asked, 3);
  EXPECT_TRUE(dialler.connections().empty());
  // The hub dials again as usual afterwards.
  target.acceptor.listen();
  auto later = dialler.connect("n", "127.0.0.1", target.port(), ec, [] { return true; });
  ASSERT_TRUE(later) << ec.message();
  EXPECT_TRUE(later->is_open());
}

TEST(client, keep_waiting_abandons_an_open) {
  refusing_port target;
  client_options o;
  o.port = target.port();
  o.open = false;
  o.connect_timeout = std::chrono::milliseconds::max();
  client c(o);
  int asked = 0;
  try {
    c.open([&] { return ++asked < 2; });
    FAIL() << "expected operation_canceled";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_canceled);
  }
  EXPECT_EQ(asked, 2);
  EXPECT_FALSE(c.connection());
}

TEST(hub, connect_gives_up_after_connect_timeout) {
  refusing_port target;
  std::uint16_t port = target.port();
  hub dialler({.port = 0, .connect_timeout = 200ms});
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  auto c = dialler.connect("nobody", "127.0.0.1", port, ec);
  EXPECT_FALSE(c);
  EXPECT_EQ(ec, errc::connect_timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_THROW(dialler.connect("nobody", "127.0.0.1", port), std::system_error);
  EXPECT_TRUE(dialler.connections().empty());
}

TEST(hub, connect_to_an_unknown_host_fails) {
  hub dialler({.port = 0, .connect_timeout = 2s});
  std::error_code ec;
  auto c = dialler.connect("x", "no-such-host.invalid", 1, ec);
  EXPECT_FALSE(c);
  EXPECT_TRUE(ec);
}

TEST(hub, write_queue_bound_fails_fast_with_the_fail_policy) {
  // The peer never reads, so the kernel buffers fill and then the queue.
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  hub h({.port = 0,
         .limits = {.max_write_queue_bytes = 1 << 20, .on_full_queue = overflow_policy::fail}});
  test::raw_peer sink;
  std::thread t([&] { sink.accept(acceptor); });
  auto c = h.connect("sink", "127.0.0.1", acceptor.local_endpoint().port());
  t.join();
  std::string chunk(64 * 1024, 'z');
  std::error_code ec;
  for (int i = 0; i < 10000 && !ec; ++i) c->write("fill", chunk, ec);
  EXPECT_EQ(ec, errc::queue_full);
  EXPECT_TRUE(c->is_open());
  // A full queue may still drain into the kernel's buffers, which autotune
  // to several megabytes; refill until those are full too. Then nothing can
  // drain and flush cannot finish.
  bool stuck = false;
  for (int round = 0; round < 100 && !stuck; ++round) {
    stuck = !c->flush(50ms);
    for (ec.clear(); !stuck && !ec;) c->write("fill", chunk, ec);
  }
  EXPECT_TRUE(stuck);
}

TEST(hub, write_queue_bound_blocks_then_fails_with_the_block_policy) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  hub h({.port = 0,
         .timeout = 100ms,
         .limits = {.max_write_queue_bytes = 1 << 20, .on_full_queue = overflow_policy::block}});
  test::raw_peer sink;
  std::thread t([&] { sink.accept(acceptor); });
  auto c = h.connect("sink", "127.0.0.1", acceptor.local_endpoint().port());
  t.join();
  std::string chunk(64 * 1024, 'z');
  std::error_code ec;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000 && !ec; ++i) c->write("fill", chunk, ec);
  EXPECT_EQ(ec, errc::queue_full);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(hub, flush_waits_until_the_queue_is_written) {
  hub a(any_port());
  hub b(any_port());
  auto c = b.connect("x", "127.0.0.1", a.port());
  c->write("big", std::string(4 << 20, 'f'));
  EXPECT_TRUE(c->flush(patience));
  EXPECT_GE(c->stats().bytes_out, 4u << 20);
}

TEST(hub, wait_for_next_sees_only_new_values) {
  hub a(any_port());
  hub b(any_port());
  auto c = b.connect("x", "127.0.0.1", a.port());
  auto r = a.wait_for_connection(patience);
  c->write("ping", 1);
  ASSERT_EQ(r->wait_for("ping", patience), value(1));
  EXPECT_EQ(r->wait_for_next("ping", 50ms), std::nullopt);
  // The version is taken before the write starts: a value that arrived
  // between starting the thread and the call would otherwise be missed,
  // as documented, and the test would fail on a loaded machine.
  auto since = r->version("ping");
  std::thread t([&] { c->write("ping", 2); });
  auto next = r->wait_for_next("ping", patience, since);
  t.join();
  EXPECT_EQ(next, value(2));
}

TEST(hub, waits_time_out_and_end_on_close) {
  hub a(any_port());
  EXPECT_EQ(a.wait_for_connection(20ms), nullptr);
  EXPECT_FALSE(a.wait_for_connections(1, 20ms));
  EXPECT_TRUE(a.wait_for("nothing", 20ms).empty());
  std::thread closer([&] { a.close(); });
  EXPECT_EQ(a.wait_for_connection(patience), nullptr); // returns when closed
  closer.join();
  EXPECT_FALSE(a.is_open());
  std::error_code ec;
  EXPECT_EQ(a.connect("x", "127.0.0.1", 1, ec), nullptr);
  EXPECT_EQ(ec, errc::engine_closed);
}

TEST(hub, closed_connections_past_the_limit_are_forgotten) {
  hub centre({.port = 0, .limits = {.max_closed_connections = 3}});
  for (int i = 0; i < 10; ++i) {
    hub p(any_port());
    p.connect("p", "127.0.0.1", centre.port());
    ASSERT_TRUE(centre.wait_for_connection(patience));
  }
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return std::none_of(cs.begin(), cs.end(), [](auto& c) { return c->is_open(); });
  }));
  // Exactly the limit: the one closing last is no exception.
  EXPECT_TRUE(eventually([&] { return centre.connections().size() == 3; }))
      << centre.connections().size();
}

} // namespace
} // namespace socketengine

namespace socketengine {
namespace {

TEST(hub_close, a_connect_in_progress_ends_when_the_hub_closes) {
  asio::io_context io;
  asio::ip::tcp::acceptor refusing(io);
  refusing.open(asio::ip::tcp::v4());
  refusing.bind({asio::ip::make_address("127.0.0.1"), 0});
  hub h({.port = 0, .connect_timeout = std::chrono::milliseconds::max()});
  std::error_code ec;
  std::promise<void> done;
  std::thread dialler([&] {
    h.connect("x", "127.0.0.1", refusing.local_endpoint().port(), ec);
    done.set_value();
  });
  h.close();
  auto f = done.get_future();
  EXPECT_EQ(f.wait_for(test::patience), std::future_status::ready);
  dialler.join();
  EXPECT_EQ(ec, errc::engine_closed);
}

} // namespace
} // namespace socketengine
