// Host and client over loopback, with the seed's semantics.

#include <gtest/gtest.h>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;

TEST(host_client, client_writes_reach_the_host) {
  host h({.port = 0});
  h.start();
  client c({.port = h.port()});
  c.start();
  c.write("test", "client is connected!");
  c.write("connected", true);
  auto from = h.wait_for_connection(patience);
  ASSERT_TRUE(from);
  EXPECT_EQ(from->wait_for("connected", patience), value(true));
  EXPECT_EQ(h.get_all("test"), std::vector<value>{"client is connected!"});
  EXPECT_EQ(from->name(), "");
  EXPECT_EQ(from->kind(), connection_kind::remote);
  EXPECT_EQ(c.connection()->kind(), connection_kind::local);
}

TEST(host_client, host_wait_for_sees_a_client_that_already_left) {
  host h({.port = 0});
  h.start();
  {
    client c({.port = h.port()});
    c.write("test", "client is connected!");
  }
  EXPECT_EQ(h.wait_for("test", patience), std::vector<value>{"client is connected!"});
  EXPECT_TRUE(h.wait_for("never", 20ms).empty());
}

TEST(host_client, host_writes_reach_every_client) {
  host h({.port = 0});
  h.start();
  client a({.port = h.port()});
  client b({.port = h.port()});
  ASSERT_TRUE(h.wait_for_connections(2, patience));
  EXPECT_EQ(h.clients().size(), 2u);
  EXPECT_EQ(h.write_all("cmd", value::object({{"go", true}})), 2u);
  EXPECT_EQ(a.wait_for("cmd", patience), value::object({{"go", true}}));
  EXPECT_EQ(b.wait_for("cmd", patience), value::object({{"go", true}}));
  EXPECT_EQ(b.get("nothing"), std::nullopt);

  a.write("id", "a");
  b.write("id", "b");
  ASSERT_TRUE(eventually([&] { return h.get_all("id").size() == 2; }));
  EXPECT_EQ(h.get_all("id"), (std::vector<value>{"a", "b"}));
  EXPECT_TRUE(h.get_all("none").empty());
}

TEST(host_client, client_waits_for_a_host_that_starts_later) {
  // Bound but not yet listening: the client is refused until listen().
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(asio::ip::tcp::v4());
  acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
  std::unique_ptr<client> c;
  std::thread t([&] {
    c = std::make_unique<client>(
        client_options{.port = acceptor.local_endpoint().port(), .connect_timeout = 10s});
  });
  // Not a wait for the network: it lets the client be refused at least once.
  std::this_thread::sleep_for(50ms);
  acceptor.listen();
  test::raw_peer host_side;
  host_side.accept(acceptor);
  t.join();
  c->write("hi", 1);
  host_side.expect_native_offer();
  EXPECT_EQ(host_side.read_line(), R"({"type":"hi","data":1})");
}

TEST(host_client, open_false_defers_binding_and_connecting) {
  host h({.port = 0, .open = false});
  EXPECT_EQ(h.port(), 0);
  h.open();
  EXPECT_NE(h.port(), 0);
  h.start().start(); // idempotent, chainable
  client c({.port = h.port(), .open = false});
  EXPECT_EQ(c.connection(), nullptr);
  EXPECT_EQ(c.get("x"), std::nullopt);
  std::error_code ec;
  c.write("x", 1, ec);
  EXPECT_EQ(ec, errc::not_connected);
  EXPECT_THROW(c.write("x", 1), std::system_error);
  c.open();
  c.start();
  c.write("x", 1);
  EXPECT_EQ(h.wait_for_connection(patience)->wait_for("x", patience), value(1));
}

TEST(host_client, client_writes_bytes_and_images_in_an_encoding_of_its_choice) {
  host h({.port = 0});
  h.start();
  client c({.port = h.port(), .open = false});
  const std::uint8_t raw_bytes[] = {0, 1, 2, 255};
  image flat(256, 256, pixel_order::bgr); // all zero: a few hundred bytes as PNG
  EXPECT_THROW(c.write_bytes("b", raw_bytes), std::system_error);
  EXPECT_THROW(c.write_image(flat, image_encoding::raw), std::system_error);
  EXPECT_THROW(c.write_image(flat, image_encoding::raw, share_pixels), std::system_error);
  c.open();
  auto from = h.wait_for_connection(patience);
  ASSERT_TRUE(from);
  ASSERT_TRUE(eventually([&] { return c.connection()->is_native(); }));
  c.write_bytes("b", raw_bytes);
  EXPECT_EQ(from->wait_for("b", patience), value::binary({0, 1, 2, 255}));
  // Raw, not the engine's default PNG: every pixel on the wire.
  const auto before = from->stats().bytes_in;
  EXPECT_EQ(c.write_image(flat, image_encoding::raw, share_pixels), image_status::sent);
  EXPECT_EQ(*from->wait_for_image(patience), flat);
  EXPECT_GE(from->stats().bytes_in - before, flat.size_bytes());
}

TEST(host_client, clients_queue_until_start_accepts_them) {
  host h({.port = 0});
  client c({.port = h.port()});
  c.write("early", 1);
  EXPECT_TRUE(h.clients().empty());
  h.start();
  auto from = h.wait_for_connection(patience);
  ASSERT_TRUE(from);
  EXPECT_EQ(from->wait_for("early", patience), value(1));
}

TEST(host_client, host_binds_only_the_address_given) {
  host h({.address = "127.0.0.1", .port = 0});
  h.start();
  client ok({.address = "127.0.0.1", .port = h.port()});
  EXPECT_TRUE(ok.connection()->is_open());
  // Nothing listens on ::1 at that port.
  client_options o{.address = "::1", .port = h.port(), .connect_timeout = 100ms};
  EXPECT_THROW(client bad(o), std::system_error);
}

TEST(host_client, host_bind_failure_names_address_and_port) {
  host a({.port = 0});
  try {
    host b({.port = a.port()});
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(a.port())), std::string::npos);
  }
}

TEST(host_client, closing_the_host_closes_its_clients) {
  auto h = std::make_unique<host>(host_options{.port = 0});
  h->start();
  // Ended for good, not redialled (see reconnect_test.cpp for that).
  client c({.port = h->port(), .reconnect = {.enabled = false}});
  ASSERT_TRUE(h->wait_for_connection(patience));
  h->write_all("bye", "now");
  h->close();
  ASSERT_TRUE(eventually([&] { return !c.connection()->is_open(); }));
  EXPECT_EQ(c.get("bye"), value("now"));
  EXPECT_EQ(c.connection()->close_reason(), errc::peer_eof);
}

TEST(host_client, closing_the_client_is_seen_by_the_host) {
  host h({.port = 0});
  h.start();
  auto c = std::make_unique<client>(client_options{.port = h.port()});
  auto from = h.wait_for_connection(patience);
  c->write("last", 1);
  c->close();
  ASSERT_TRUE(eventually([&] { return !from->is_open(); }));
  EXPECT_EQ(from->get("last"), value(1));
  EXPECT_EQ(from->close_reason(), errc::peer_eof);
}

TEST(host_client, set_timeout_bounds_how_long_close_flushes) {
  host h({.port = 0, .timeout = 30s});
  h.start();
  test::raw_peer sluggish; // connects and never reads
  sluggish.connect(h.port());
  ASSERT_TRUE(h.wait_for_connection(patience));
  std::string big(1 << 20, 's');
  for (int i = 0; i < 12; ++i) h.write_all(test::numbered("big", i), big);
  h.set_timeout(200ms);
  auto start = std::chrono::steady_clock::now();
  h.close();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 10s); // the 30 s it was built with no longer applies
  EXPECT_FALSE(h.is_open());
  EXPECT_TRUE(sluggish.wait_closed());
}

} // namespace
} // namespace socketengine
