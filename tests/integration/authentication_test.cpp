// Token authentication over loopback (auth_options): peers with the same
// token exchange values as without one, in both protocols; a wrong or
// missing token, or a socket.engine 0.3 peer, is refused on both sides
// with errc::unauthenticated before anything is stored or any callback
// runs; allow_legacy admits 0.3 peers; a peer that never authenticates is
// closed at the deadline; and the bytes on the wire carry a proof, never
// the token.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <socketengine/socketengine.hpp>

#include "support/round_trips.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;
using test::raw_peer;
using reports = test::error_reports;

// What an engine's callbacks saw: connections and messages.
struct callback_counts {
  std::shared_ptr<std::atomic<int>> connected = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> messages = std::make_shared<std::atomic<int>>(0);
  void watch(engine& e) {
    e.on_connect([n = connected](const std::shared_ptr<connection>&) { ++*n; });
    e.on_message([n = messages](const std::shared_ptr<connection>&, const std::string&,
                                const value&) { ++*n; });
  }
};

TEST(authentication, hubs_with_the_same_token_exchange_values_both_ways) {
  for (bool native : {true, false}) {
    SCOPED_TRACE(native ? "native" : "legacy");
    hub centre({.port = 0, .native = native, .auth = {.token = "s3cret"}});
    hub dialler({.listen = false, .native = native, .auth = {.token = "s3cret"}});
    auto out = dialler.connect("robot", "127.0.0.1", centre.port());
    ASSERT_TRUE(out);
    auto in = centre.wait_for_connection(patience);
    ASSERT_TRUE(in);
    test::round_trip(*out, *in);
    EXPECT_EQ(in->name(), "robot");
    EXPECT_EQ(out->is_native(), native);
    EXPECT_EQ(in->is_native(), native);
    EXPECT_TRUE(in->is_open());
  }
}

TEST(authentication, a_host_and_its_client_with_the_same_token_exchange_values) {
  host h({.port = 0, .auth = {.token = "s3cret"}});
  h.start();
  client c({.port = h.port(), .auth = {.token = "s3cret"}});
  c.write("hello", 1);
  auto from = h.wait_for_connection(patience);
  ASSERT_TRUE(from);
  EXPECT_EQ(from->wait_for("hello", patience), value(1));
  EXPECT_EQ(h.write_all("back", 2), 1u);
  EXPECT_EQ(c.wait_for("back", patience), value(2));
}

TEST(authentication, a_wrong_token_is_refused_on_both_sides_before_anything_passes) {
  callback_counts centre_saw, dialler_saw;
  hub centre({.port = 0, .auth = {.token = "s3cret"}});
  reports centre_heard(centre);
  centre_saw.watch(centre);
  hub dialler({.listen = false, .auth = {.token = "wrong"}});
  reports dialler_heard(dialler);
  dialler_saw.watch(dialler);
  std::error_code ec;
  auto out = dialler.connect("robot", "127.0.0.1", centre.port(), ec);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(ec, errc::unauthenticated) << ec.message();
  EXPECT_TRUE(centre_heard.heard(errc::unauthenticated));
  auto said = centre_heard.details(errc::unauthenticated);
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said[0].find("does not match"), std::string::npos) << said[0];
  EXPECT_TRUE(centre.connections().empty());
  EXPECT_TRUE(dialler.connections().empty());
  EXPECT_EQ(*centre_saw.connected, 0);
  EXPECT_EQ(*dialler_saw.connected, 0);
  EXPECT_EQ(*centre_saw.messages, 0);
  EXPECT_EQ(*dialler_saw.messages, 0);
}

TEST(authentication, a_side_without_a_token_is_refused_by_one_with_it_and_learns_why) {
  // The token on the listening side, then on the dialling side.
  for (bool listener_has_it : {true, false}) {
    SCOPED_TRACE(listener_has_it ? "listener has the token" : "dialler has the token");
    auth_options with{.token = "s3cret"};
    hub centre({.port = 0, .auth = listener_has_it ? with : auth_options{}});
    reports centre_heard(centre);
    hub dialler({.listen = false, .auth = listener_has_it ? auth_options{} : with});
    reports dialler_heard(dialler);
    std::error_code ec;
    auto out = dialler.connect("robot", "127.0.0.1", centre.port(), ec);
    if (listener_has_it) {
      // The dialler without a token got its connection, and loses it at
      // once: the listener refuses it.
      ASSERT_TRUE(out);
      EXPECT_TRUE(eventually([&] { return !out->is_open(); }));
      EXPECT_EQ(out->close_reason(), errc::unauthenticated) << out->close_reason().message();
      EXPECT_TRUE(centre_heard.heard(errc::unauthenticated));
      EXPECT_TRUE(centre.connections().empty());
    } else {
      EXPECT_EQ(out, nullptr);
      EXPECT_EQ(ec, errc::unauthenticated) << ec.message();
      // Reports reach the handler on the callback thread, maybe after the
      // dial has returned.
      ASSERT_TRUE(dialler_heard.heard(errc::unauthenticated));
      auto said = dialler_heard.details(errc::unauthenticated);
      ASSERT_FALSE(said.empty());
      EXPECT_NE(said[0].find("no token"), std::string::npos) << said[0];
      EXPECT_TRUE(eventually([&] {
        auto cs = centre.connections();
        return !cs.empty() && !cs[0]->is_open();
      }));
      EXPECT_EQ(centre.connections()[0]->close_reason(), errc::unauthenticated)
          << centre.connections()[0]->close_reason().message();
    }
  }
}

TEST(authentication, a_dial_abandoned_while_the_peer_has_not_authenticated_closes_it) {
  // A listener that takes the connection and the hello, and never answers.
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  raw_peer silent;
  std::atomic<bool> greeted{false};
  std::thread listener([&] {
    silent.accept(acceptor);
    (void)silent.read_line(); // the dialler's hello: it is authenticating now
    greeted = true;
  });
  // The handshake's own deadline far away: only the abandoned dial may end it.
  hub dialler({.listen = false, .auth = {.token = "s3cret", .timeout = 20s}});
  std::error_code ec;
  auto c = dialler.connect("robot", "127.0.0.1", port, ec, [&] { return !greeted.load(); });
  listener.join();
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(ec, std::errc::operation_canceled) << ec.message();
  EXPECT_TRUE(dialler.connections().empty());
  // The connection it was making goes too: the peer reads the end.
  try {
    for (;;) (void)silent.read_line();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "read_line: connection closed");
  }
}

// Whether `line` is the hello a side with a token greets with: a nonce of
// 16 bytes in base64, and the offer. (Not std::regex: GCC 12 warns inside
// it at -O2, which -Werror turns into a failed build.)
bool is_hello(std::string_view line) {
  constexpr std::string_view head = R"({"type":"__native","data":{"nonce":")";
  constexpr std::string_view tail = R"(==","offer":1}})";
  if (line.size() != head.size() + 22 + tail.size() || !line.starts_with(head) ||
      !line.ends_with(tail))
    return false;
  auto nonce = line.substr(head.size(), 22);
  return nonce.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ==
         std::string_view::npos;
}

TEST(authentication, a_legacy_peer_is_refused_and_told_why) {
  callback_counts saw;
  hub centre({.port = 0, .auth = {.token = "s3cret"}});
  reports heard(centre);
  saw.watch(centre);
  raw_peer peer;
  peer.connect(centre.port());
  auto hello = peer.read_line();
  EXPECT_TRUE(is_hello(hello)) << hello;
  EXPECT_EQ(hello.find("s3cret"), std::string::npos);
  peer.send(test::name_line("old") + R"({"type":"x","data":1})" "\n");
  EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"refuse":"token_required"}})");
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(heard.heard(errc::unauthenticated));
  EXPECT_TRUE(centre.connections().empty());
  EXPECT_EQ(*saw.connected, 0);
  EXPECT_EQ(*saw.messages, 0);
}

TEST(authentication, allow_legacy_admits_a_legacy_peer_as_it_is) {
  hub centre({.port = 0, .auth = {.token = "s3cret", .allow_legacy = true}});
  raw_peer peer;
  peer.connect(centre.port());
  EXPECT_TRUE(is_hello(peer.read_line()));
  peer.send(test::name_line("old") + R"({"type":"x","data":1})" "\n");
  auto in = centre.wait_for_connection(patience);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->wait_for("x", patience), value(1));
  EXPECT_EQ(in->name(), "old");
  EXPECT_FALSE(in->is_native());
}

TEST(authentication, allow_legacy_admits_a_silent_legacy_peer_at_the_deadline) {
  hub centre({.port = 0, .auth = {.token = "s3cret", .allow_legacy = true, .timeout = 200ms}});
  raw_peer peer;
  peer.connect(centre.port());
  auto in = centre.wait_for_connection(patience);
  ASSERT_TRUE(in);
  EXPECT_GE(in->stats().bytes_out, 1u);
}

TEST(authentication, a_peer_that_never_authenticates_is_closed_at_the_deadline) {
  hub centre({.port = 0, .auth = {.token = "s3cret", .timeout = 200ms}});
  reports heard(centre);
  raw_peer quiet;
  quiet.connect(centre.port());
  EXPECT_TRUE(quiet.wait_closed(patience));
  EXPECT_TRUE(heard.heard(errc::not_identified));
  auto said = heard.details(errc::not_identified);
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said[0].find("did not authenticate within 200 ms"), std::string::npos) << said[0];
  EXPECT_TRUE(centre.connections().empty());
}

TEST(authentication, a_peer_handing_a_side_its_own_nonce_back_is_refused) {
  hub centre({.port = 0, .auth = {.token = "s3cret"}});
  reports heard(centre);
  raw_peer peer;
  peer.connect(centre.port());
  peer.send(peer.read_line() + "\n"); // the hub's hello, back
  EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"refuse":"bad_hello"}})");
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(heard.heard(errc::unauthenticated));
}

TEST(authentication, a_pre_auth_line_longer_than_a_handshake_closes_the_connection) {
  hub centre({.port = 0, .auth = {.token = "s3cret"}});
  reports heard(centre);
  raw_peer peer;
  peer.connect(centre.port());
  peer.send(std::string(8192, 'x'));
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(heard.heard(errc::line_too_long));
}

TEST(authentication, the_token_comes_from_a_file_or_a_variable) {
  test::temp_dir dir;
  std::ofstream(dir.file("token")) << "from-a-file\n";
  ::setenv("SOCKETENGINE_AUTH_TEST_TOKEN", "from-a-file", 1);
  hub centre({.port = 0, .auth = {.token_file = dir.file("token")}});
  hub dialler({.listen = false, .auth = {.token_env = "SOCKETENGINE_AUTH_TEST_TOKEN"}});
  ::unsetenv("SOCKETENGINE_AUTH_TEST_TOKEN");
  auto out = dialler.connect("robot", "127.0.0.1", centre.port());
  auto in = centre.wait_for_connection(patience);
  ASSERT_TRUE(in);
  test::round_trip(*out, *in);
  EXPECT_THROW(hub({.port = 0, .auth = {.token_file = dir.file("missing")}}), std::system_error);
  EXPECT_THROW(hub({.port = 0, .auth = {.token = "a", .token_env = "B"}}), std::invalid_argument);
}

TEST(authentication, a_redialled_link_authenticates_again_before_what_was_held_goes) {
  hub dialler({.listen = false,
               .reconnect = {.min_backoff = 10ms, .max_backoff = 50ms},
               .auth = {.token = "s3cret"}});
  std::uint16_t port = 0;
  std::shared_ptr<connection> out;
  {
    hub first({.port = 0, .auth = {.token = "s3cret"}});
    port = first.port();
    out = dialler.connect("robot", "127.0.0.1", port);
    ASSERT_TRUE(first.wait_for_connection(patience));
  }
  ASSERT_TRUE(eventually([&] { return out->state() == link_state::reconnecting; }));
  out->write("while_down", 7);
  hub second({.port = port, .auth = {.token = "s3cret"}});
  auto in = second.wait_for_connection(patience);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->wait_for("while_down", patience), value(7));
  EXPECT_EQ(in->name(), "robot");
}

} // namespace
} // namespace socketengine
