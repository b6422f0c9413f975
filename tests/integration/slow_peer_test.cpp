// Peers that stop reading: by default one stuck peer never holds up
// write_all for the others and gets the latest value per channel once it
// reads again; under overflow_policy::disconnect it is cut off.

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;
using test::raw_peer;

// A peer that accepts a hub's dial and then reads nothing until told to.
struct stuck_peer {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  raw_peer socket;
  std::shared_ptr<connection> to_it;

  explicit stuck_peer(hub& h) {
    std::thread t([&] { socket.accept(acceptor); });
    to_it = h.connect("stuck", "127.0.0.1", acceptor.local_endpoint().port());
    t.join();
  }
};

TEST(slow_peer, one_stuck_peer_never_holds_up_write_all_and_catches_up_on_the_latest) {
  // A write that waited for room would wait the whole timeout.
  hub h({.port = 0, .timeout = 30s, .limits = {.max_write_queue_bytes = 64 * 1024}});
  test::error_reports reports(h);
  stuck_peer stuck(h);
  ASSERT_TRUE(stuck.to_it);
  hub good_side({.listen = false});
  auto good = good_side.connect("good", "127.0.0.1", h.port());
  ASSERT_TRUE(good);
  ASSERT_TRUE(h.wait_for_connections(2, patience));

  // 40 MB in all: far past the stuck peer's queue and the kernel's buffers.
  std::string filler(20 * 1024, 'f');
  auto start = std::chrono::steady_clock::now();
  constexpr int writes = 2000;
  for (int i = 0; i < writes; ++i) {
    EXPECT_EQ(h.write_all("filler", filler), 2u); // the stuck peer's are held, not refused
    EXPECT_EQ(h.write_all("n", i), 2u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << "write_all waited on the stuck peer";
  // The good peer got everything, in order, to the last.
  EXPECT_TRUE(good->wait_for_next("n", patience, 0));
  EXPECT_TRUE(eventually([&] { return good->get("n") == value(writes - 1); }));
  // The stuck one had older values replaced, and that was reported once.
  EXPECT_GT(stuck.to_it->stats().conflated, 0u);
  EXPECT_TRUE(reports.heard(errc::queue_full));
  EXPECT_TRUE(stuck.to_it->is_open());

  // It reads again, and gets the latest value, held back until then.
  std::string last_n = R"({"type":"n","data":)" + std::to_string(writes - 1) + "}";
  bool latest = false;
  while (!latest) latest = stuck.socket.read_line() == last_n; // throws on timeout
  EXPECT_TRUE(latest);
}

TEST(slow_peer, under_disconnect_a_peer_that_does_not_drain_is_cut_off) {
  // Cut off for good: not redialled.
  hub h({.port = 0,
         .limits = {.max_write_queue_bytes = 64 * 1024,
                    .on_full_queue = overflow_policy::disconnect,
                    .slow_peer_timeout = 300ms},
         .reconnect = {.enabled = false}});
  test::error_reports reports(h);
  stuck_peer stuck(h);
  ASSERT_TRUE(stuck.to_it);
  // A producer that goes on writing: refused at once while the queue is
  // full (until the system's buffers are full too, it drains now and then),
  // and then, the queue staying full, cut off.
  std::string filler(20 * 1024, 'f');
  int refused = 0;
  EXPECT_TRUE(eventually([&] {
    std::error_code ec;
    stuck.to_it->write("filler", filler, ec);
    refused += ec == errc::queue_full ? 1 : 0;
    return !stuck.to_it->is_open();
  }));
  EXPECT_GT(refused, 0);
  EXPECT_EQ(stuck.to_it->close_reason(), errc::slow_consumer);
  EXPECT_TRUE(reports.heard(errc::slow_consumer));
}

} // namespace
} // namespace socketengine
