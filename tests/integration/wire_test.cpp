// The bytes the engine puts on the wire, checked against the socket.engine
// 0.3 protocol with a raw socket on the other end.

#include <gtest/gtest.h>

#include <atomic>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::patience;

struct raw_listener {
  raw_listener() : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}) {}
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
};

TEST(wire, hub_dial_sends_name_then_values_then_closing) {
  raw_listener l;
  test::raw_peer peer;
  hub h({.port = 0});
  std::thread t([&] { peer.accept(l.acceptor); });
  auto c = h.connect("cam", "127.0.0.1", l.port());
  t.join();
  c->write("speed", "3.5");
  c->write("caf\xc3\xa9", "caf\xc3\xa9");
  c->write("connected", true);
  h.close();
  EXPECT_EQ(peer.read_line(), R"({"type":"__name_conn","data":"cam"})");
  // The native offer, which a legacy peer stores and ignores.
  EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"offer":1}})");
  EXPECT_EQ(peer.read_line(), R"({"type":"speed","data":"3.5"})");
  EXPECT_EQ(peer.read_line(), R"({"type":"caf\u00e9","data":"caf\u00e9"})");
  EXPECT_EQ(peer.read_line(), R"({"type":"connected","data":true})");
  EXPECT_EQ(peer.read_line(), R"({"type":"__status","data":"__closing"})");
  EXPECT_TRUE(peer.wait_closed());
}

TEST(wire, python_peer_lines_are_read_as_the_python_package_writes_them) {
  hub h({.port = 0});
  test::raw_peer peer;
  peer.connect(h.port());
  peer.send("{\"type\": \"__name_conn\", \"data\": \"cam\"}\n"
            "{\"type\": \"speed\", \"data\": \"3.5\"}\n"
            "{\"type\": \"caf\\u00e9\", \"data\": \"caf\\u00e9\"}\n");
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->wait_for("caf\xc3\xa9", patience));
  EXPECT_EQ(c->name(), "cam");
  EXPECT_EQ(c->get("speed"), value("3.5"));
  EXPECT_EQ(c->get("caf\xc3\xa9"), value("caf\xc3\xa9"));
  peer.send("{\"type\": \"__status\", \"data\": \"__closing\"}\n");
  ASSERT_TRUE(test::eventually([&] { return !c->is_open(); }));
  EXPECT_EQ(c->close_reason(), errc::peer_closing);
  EXPECT_TRUE(peer.wait_closed());
}

TEST(wire, an_image_line_is_acknowledged) {
  hub h({.port = 0});
  test::raw_peer peer;
  peer.connect(h.port());
  peer.send("{\"type\": \"__image\", \"data\": \"iVBORw0KGgo=\"}\n");
  peer.expect_native_offer();
  EXPECT_EQ(peer.read_line(), R"({"type":"__ack","data":"__ack"})");
}

TEST(wire, host_and_client_send_no_name_and_no_closing) {
  raw_listener l;
  test::raw_peer peer;
  std::thread t([&] { peer.accept(l.acceptor); });
  client c({.port = l.port()});
  t.join();
  c.write("test", "client is connected!");
  c.close();
  EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"offer":1}})");
  EXPECT_EQ(peer.read_line(), R"({"type":"test","data":"client is connected!"})");
  EXPECT_TRUE(peer.wait_closed());
}

TEST(wire, many_small_writes_arrive_complete_and_in_order) {
  std::vector<value> seen;
  std::mutex mu;
  hub h({.port = 0});
  hub d({.port = 0});
  auto c = d.connect("n", "127.0.0.1", h.port());
  auto r = h.wait_for_connection(patience);
  h.on("seq", [&](const std::shared_ptr<connection>&, const value& v) {
    std::lock_guard lk(mu);
    seen.push_back(v);
  });
  for (int i = 0; i < 20000; ++i) c->write("seq", i);
  ASSERT_TRUE(test::eventually([&] {
    std::lock_guard lk(mu);
    return seen.size() == 20000;
  }));
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], i);
}

} // namespace
} // namespace socketengine

namespace socketengine {
namespace {

TEST(wire, image_acknowledgements_do_not_pile_up_for_a_peer_that_never_reads) {
  // Each image is refused (its data is not base64) and reported: counted
  // here, not printed 300,000 times on stderr.
  std::atomic<std::size_t> refused{0};
  hub h({.port = 0});
  h.on_error([&](const std::shared_ptr<connection>&, std::error_code, const std::string&) {
    ++refused;
  });
  test::raw_peer flood;
  flood.connect(h.port());
  auto c = h.wait_for_connection(test::patience);
  ASSERT_TRUE(c);
  // Named, so that a slow run is not cut at the identify deadline.
  flood.send(R"({"type":"__name_conn","data":"flood"})" "\n");
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "{\"type\":\"__image\",\"data\":\"x\"}\n";
  const int rounds = 300; // 300,000 images, never reading a single ack
  for (int i = 0; i < rounds; ++i) flood.send(lines);
  flood.send("{\"type\":\"end\",\"data\":1}\n");
  // 300,000 lines take seconds under a sanitizer on a busy machine.
  ASSERT_TRUE(c->wait_for("end", 4 * test::patience));
  // Without coalescing every image would queue its own 32-byte ack.
  EXPECT_LT(c->stats().messages_out, 1000u * rounds / 10);
  EXPECT_TRUE(c->is_open());
  EXPECT_GT(refused.load(), 0u);
}

} // namespace
} // namespace socketengine
