// TLS on TCP links (tls_options), with certificates the tests make with the
// `openssl` command: hubs, host and clients exchange values and images over
// TLS in both protocols, and nothing readable crosses the wire; a peer
// whose certificate is signed by an unknown CA, has expired or names
// another host is refused on both sides with OpenSSL's reason; mutual TLS
// refuses a client without a certificate from the CA; a plain peer never
// becomes a connection; silent handshakes end at their deadline and are
// bounded in number; a configuration that cannot work throws in the
// constructor; token authentication works over TLS.

#include <gtest/gtest.h>

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <socketengine/error.hpp>
#include <socketengine/socketengine.hpp>

#include "support/certificates.hpp"
#include "support/round_trips.hpp"
#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;
using test::raw_peer;
using reports = test::error_reports;

const test::certificates& pki() {
  static const test::certificates made;
  return made;
}

// TLS with `name`'s certificate, trusting `ca`.
tls_options tls_as(const std::string& name, const std::string& ca = "ca") {
  return {.enabled = true,
          .certificate_file = pki().cert(name),
          .private_key_file = pki().key(name),
          .ca_file = pki().cert(ca)};
}

// TLS without a certificate of its own, trusting `ca`.
tls_options trusting(const std::string& ca = "ca") {
  return {.enabled = true, .ca_file = pki().cert(ca)};
}

hub_options listening(tls_options t) {
  hub_options o;
  o.port = 0;
  o.bind_address = "127.0.0.1";
  o.tls = std::move(t);
  return o;
}

hub_options dialling(tls_options t) {
  hub_options o;
  o.listen = false;
  o.connect_timeout = 0ms; // one attempt: a refusal is the answer
  o.tls = std::move(t);
  return o;
}

// What connecting threw: its code and what().
struct refusal {
  std::error_code code;
  std::string what;
};

refusal refused_dial(hub& from, std::uint16_t port, std::string_view address = "127.0.0.1") {
  try {
    from.connect("cam", address, port);
  } catch (const std::system_error& e) {
    return {e.code(), e.what()};
  }
  return {};
}

TEST(tls, hubs_exchange_values_and_images_over_tls_natively) {
  hub a(listening(tls_as("server")));
  hub b(dialling(trusting()));
  auto out = b.connect("cam", "127.0.0.1", a.port());
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(out && in);
  test::round_trip(*out, *in);
  EXPECT_TRUE(out->is_native());
  EXPECT_TRUE(in->is_native());
  EXPECT_EQ(in->name(), "cam");

  for (int i = 0; i < 1000; ++i) out->write("seq", i);
  std::string big(4 << 20, 'x'); // across hundreds of TLS records
  big[12345] = 'y';
  out->write("big", big);
  EXPECT_EQ(in->wait_for("big", patience), value(big));
  EXPECT_EQ(in->get("seq"), value(999));
  in->write("back", value{{"ok", true}});
  EXPECT_EQ(out->wait_for("back", patience), (value{{"ok", true}}));

  auto frame = test::pattern_image(640, 480, pixel_order::bgr);
  out->write_image(frame, image_encoding::raw);
  auto got = in->wait_for_image(patience);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, frame);

  out->close();
  EXPECT_TRUE(eventually([&] { return !in->is_open(); }));
  EXPECT_EQ(in->close_reason(), errc::peer_closing);
}

TEST(tls, hubs_exchange_values_over_tls_in_the_legacy_protocol) {
  auto lo = listening(tls_as("server"));
  lo.native = false;
  auto dO = dialling(trusting());
  dO.native = false;
  hub a(lo);
  hub b(dO);
  auto out = b.connect("cam", "127.0.0.1", a.port());
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(out && in);
  test::round_trip(*out, *in);
  EXPECT_FALSE(out->is_native());
  auto frame = test::pattern_image(64, 48, pixel_order::bgr);
  out->write_image(frame);
  auto got = in->wait_for_image(patience);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, frame);
}

TEST(tls, a_host_serves_clients_over_tls) {
  host h({.port = 0, .tls = tls_as("server")});
  h.start(); // a client's handshake needs the host accepting
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(std::make_unique<client>(client_options{.port = h.port(), .tls = trusting()}));
  ASSERT_TRUE(h.wait_for_connections(3, patience));
  EXPECT_EQ(h.write_all("news", "hello"), 3u);
  for (auto& c : clients) EXPECT_EQ(c->wait_for("news", patience), value("hello"));
  clients[1]->write("from", 1);
  EXPECT_TRUE(eventually([&] { return !h.get_all("from").empty(); }));
}

// A relay between a dialler and a listener that keeps every byte it
// passes on: what someone on the path would see.
class recording_relay {
public:
  explicit recording_relay(std::uint16_t to) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, to] {
      asio::ip::tcp::socket in(io_), out(io_);
      acceptor_.accept(in);
      out.connect({asio::ip::make_address("127.0.0.1"), to});
      std::thread back([&] { pump(out, in); });
      pump(in, out);
      back.join();
    });
  }
  ~recording_relay() { thread_.join(); }
  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::string seen() {
    std::lock_guard lk(mu_);
    return seen_;
  }

private:
  void pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to) {
    char buf[16384];
    std::error_code ec;
    for (;;) {
      auto n = from.read_some(asio::buffer(buf), ec);
      if (ec) break;
      {
        std::lock_guard lk(mu_);
        seen_.append(buf, n);
      }
      asio::write(to, asio::buffer(buf, n), ec);
      if (ec) break;
    }
    to.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::mutex mu_;
  std::string seen_;
  std::thread thread_;
};

TEST(tls, nothing_readable_crosses_the_wire) {
  auto run = [](bool tls) {
    hub a(tls ? listening(tls_as("server")) : hub_options{.port = 0, .bind_address = "127.0.0.1"});
    recording_relay relay(a.port());
    {
      hub b(tls ? dialling(trusting()) : hub_options{.listen = false});
      auto out = b.connect("cam-name", "127.0.0.1", relay.port());
      out->write("secret-channel", "secret-value");
      auto in = a.wait_for_connection(patience);
      EXPECT_TRUE(in && in->wait_for("secret-channel", patience) == value("secret-value"));
      a.write_all("reply-channel", "reply-value");
      EXPECT_EQ(out->wait_for("reply-channel", patience), value("reply-value"));
    }
    return relay.seen();
  };
  // The same exchange in plain TCP shows the words the check looks for.
  auto plain = run(false);
  for (auto word : {"cam-name", "secret-channel", "secret-value", "reply-value"})
    EXPECT_NE(plain.find(word), std::string::npos) << word;
  auto encrypted = run(true);
  EXPECT_GT(encrypted.size(), 100u);
  for (auto word : {"cam-name", "secret", "reply", "__native", "type"})
    EXPECT_EQ(encrypted.find(word), std::string::npos) << word;
}

TEST(tls, a_plain_peer_never_becomes_a_connection) {
  std::atomic<int> connected{0}; // before the hub, whose handler counts until it is gone
  hub a(listening(tls_as("server")));
  reports heard(a);
  a.on_connect([&](const std::shared_ptr<connection>&) { ++connected; });
  raw_peer plain;
  plain.connect(a.port());
  plain.send(test::name_line("intruder") + R"({"type":"x","data":1})" + "\n");
  EXPECT_TRUE(plain.wait_closed());
  EXPECT_TRUE(heard.heard_saying(tls_category(), "the TLS handshake with 127.0.0.1 port"))
      << heard.all();
  EXPECT_EQ(connected.load(), 0);
  EXPECT_TRUE(a.connections().empty());

  // And a TLS dialler refuses a listener that does not speak TLS.
  hub plain_hub({.port = 0, .bind_address = "127.0.0.1"});
  hub b(dialling(trusting()));
  auto r = refused_dial(b, plain_hub.port());
  EXPECT_TRUE(r.code) << "connected to a plain listener";
  EXPECT_NE(r.what.find("cannot connect to 127.0.0.1"), std::string::npos) << r.what;
}

TEST(tls, a_certificate_from_an_unknown_ca_is_refused_on_both_sides) {
  hub a(listening(tls_as("stranger", "other_ca")));
  reports heard(a);
  hub b(dialling(trusting("ca")));
  auto r = refused_dial(b, a.port());
  EXPECT_EQ(r.code.category(), tls_category()) << r.what;
  EXPECT_NE(r.what.find("certificate rejected: unable to get local issuer certificate"),
            std::string::npos)
      << r.what;
  EXPECT_TRUE(heard.heard_saying(tls_category(), "unknown ca")) << heard.all();
  EXPECT_TRUE(a.connections().empty());
  EXPECT_TRUE(b.connections().empty());
}

TEST(tls, an_expired_certificate_is_refused) {
  hub a(listening(tls_as("expired")));
  hub b(dialling(trusting()));
  auto r = refused_dial(b, a.port());
  EXPECT_EQ(r.code.category(), tls_category()) << r.what;
  EXPECT_NE(r.what.find("certificate has expired"), std::string::npos) << r.what;
}

TEST(tls, a_certificate_for_another_name_is_refused) {
  hub a(listening(tls_as("elsewhere")));
  hub b(dialling(trusting()));
  auto r = refused_dial(b, a.port());
  EXPECT_EQ(r.code.category(), tls_category()) << r.what;
  EXPECT_NE(r.what.find("IP address mismatch"), std::string::npos) << r.what;

  // The name it does carry, asked for by server_name, is accepted.
  auto t = trusting();
  t.server_name = "elsewhere.example";
  hub c(dialling(t));
  EXPECT_TRUE(c.connect("cam", "127.0.0.1", a.port()));

  // Host names are checked as names.
  hub d(listening(tls_as("server")));
  t.server_name = "nothere.example";
  hub e(dialling(t));
  r = refused_dial(e, d.port());
  EXPECT_NE(r.what.find("hostname mismatch"), std::string::npos) << r.what;
  t.server_name = "localhost";
  hub f(dialling(t));
  EXPECT_TRUE(f.connect("cam", "127.0.0.1", d.port()));
}

TEST(tls, without_verification_any_certificate_is_taken) {
  hub a(listening(tls_as("stranger", "other_ca")));
  hub b(dialling({.enabled = true, .verify_peer = false}));
  auto out = b.connect("cam", "127.0.0.1", a.port());
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(out && in);
  test::round_trip(*out, *in);
}

// Under TLS 1.3 a client's handshake ends before the listener has checked
// the client's certificate: a refusal then comes as the listener's alert,
// at the client's first read. Either way the link is refused, with the reason.
refusal refused_link(hub& from, std::uint16_t port) {
  std::shared_ptr<connection> c;
  try {
    c = from.connect("cam", "127.0.0.1", port);
  } catch (const std::system_error& e) {
    return {e.code(), e.what()};
  }
  if (!eventually([&] { return !c->is_open(); })) return {};
  return {c->close_reason(), c->close_reason().message()};
}

TEST(tls, mutual_tls_refuses_clients_without_a_certificate_from_the_ca) {
  auto server = tls_as("server");
  server.require_client_certificate = true;
  hub a(listening(server));
  reports heard(a);

  auto no_redial = [](tls_options t) {
    auto o = dialling(std::move(t));
    o.reconnect.enabled = false;
    return o;
  };
  hub none(no_redial(trusting()));
  auto r = refused_link(none, a.port());
  EXPECT_EQ(r.code.category(), tls_category()) << r.what;
  EXPECT_NE(r.what.find("certificate required"), std::string::npos) << r.what;
  EXPECT_TRUE(heard.heard_saying(tls_category(), "peer did not return a certificate"))
      << heard.all();

  hub wrong(no_redial(tls_as("stranger")));
  r = refused_link(wrong, a.port());
  EXPECT_EQ(r.code.category(), tls_category()) << r.what;
  EXPECT_NE(r.what.find("unknown ca"), std::string::npos) << r.what;
  EXPECT_TRUE(heard.heard_saying(tls_category(), "certificate rejected: unable to get local issuer"))
      << heard.all();
  EXPECT_TRUE(a.connections().empty());

  hub good(dialling(tls_as("client")));
  auto out = good.connect("cam", "127.0.0.1", a.port());
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(out && in);
  test::round_trip(*out, *in);
}

TEST(tls, a_configuration_that_cannot_work_throws_in_the_constructor) {
  auto message_of = [](auto make) -> std::string {
    try {
      make();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(nothing thrown)";
  };
  auto missing_key = tls_as("server");
  missing_key.private_key_file = "/nonexistent/server.key";
  EXPECT_THROW(hub{listening(missing_key)}, std::system_error);
  EXPECT_NE(message_of([&] { hub h(listening(missing_key)); })
                .find("cannot read tls.private_key_file /nonexistent/server.key"),
            std::string::npos);

  auto mismatched = tls_as("server");
  mismatched.private_key_file = pki().key("client");
  EXPECT_THROW(hub{listening(mismatched)}, std::invalid_argument);
  EXPECT_NE(message_of([&] { hub h(listening(mismatched)); }).find("is not the key of"),
            std::string::npos)
      << message_of([&] { hub h(listening(mismatched)); });

  auto not_pem = tls_as("server");
  not_pem.certificate_file = pki().key("server"); // a key, not a certificate
  EXPECT_NE(message_of([&] { hub h(listening(not_pem)); }).find("holds no PEM certificate"),
            std::string::npos);

  // Listening needs a certificate; a hub that only dials does not.
  EXPECT_NE(message_of([&] { hub h(listening(trusting())); })
                .find("listening with TLS needs tls.certificate_file"),
            std::string::npos);
  EXPECT_THROW((host{host_options{.port = 0, .open = false, .tls = trusting()}}),
               std::invalid_argument);
  EXPECT_NO_THROW(hub{dialling(trusting())});

  auto bad_ca = trusting();
  bad_ca.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW((client{client_options{.open = false, .tls = bad_ca}}), std::system_error);

  // TLS options without `enabled` would run plain TCP unnoticed.
  auto off = tls_as("server");
  off.enabled = false;
  EXPECT_NE(message_of([&] { hub h(listening(off)); }).find("tls.enabled is false"),
            std::string::npos);
}

TEST(tls, token_authentication_works_over_tls) {
  auto lo = listening(tls_as("server"));
  lo.auth.token = "over-tls";
  hub a(lo);
  auto dO = dialling(trusting());
  dO.auth.token = "over-tls";
  hub b(dO);
  auto out = b.connect("cam", "127.0.0.1", a.port());
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(out && in);
  test::round_trip(*out, *in);

  dO.auth.token = "wrong";
  hub c(dO);
  auto r = refused_dial(c, a.port());
  EXPECT_EQ(r.code, errc::unauthenticated) << r.what;
}

TEST(tls, a_silent_peer_is_dropped_at_the_handshake_deadline) {
  auto t = tls_as("server");
  t.handshake_timeout = 200ms;
  hub a(listening(t));
  reports heard(a);
  raw_peer silent;
  silent.connect(a.port());
  EXPECT_TRUE(silent.wait_closed());
  EXPECT_TRUE(heard.heard_saying(std::generic_category(), "did not finish in time"))
      << heard.all();
}

TEST(tls, handshakes_in_progress_are_bounded) {
  auto o = listening(tls_as("server"));
  o.limits.max_unidentified = 2;
  hub a(o);
  reports heard(a);
  raw_peer first, second, third;
  first.connect(a.port());
  second.connect(a.port());
  third.connect(a.port());
  EXPECT_TRUE(third.wait_closed());
  EXPECT_TRUE(heard.heard_saying(error_category(), "2 TLS handshakes are in progress"))
      << heard.all();
  EXPECT_FALSE(first.wait_closed(50ms));
  // Closing the hub ends the handshakes in progress.
  a.close();
  EXPECT_TRUE(first.wait_closed());
  EXPECT_TRUE(second.wait_closed());
}

TEST(tls, a_lost_link_redials_over_tls_and_reports_a_refused_certificate) {
  auto server_at = [](std::uint16_t port, const std::string& cert, const std::string& ca) {
    auto o = listening(tls_as(cert, ca));
    o.port = port;
    return o;
  };
  auto a = std::make_unique<hub>(server_at(0, "server", "ca"));
  const auto port = a->port();
  auto o = dialling(trusting());
  o.reconnect = {.enabled = true, .min_backoff = 10ms, .max_backoff = 100ms};
  hub robot(o);
  reports heard(robot);
  auto c = robot.connect("robot", "127.0.0.1", port);
  ASSERT_TRUE(a->wait_for_connection(patience));

  a.reset();
  ASSERT_TRUE(eventually([&] { return c->state() == link_state::reconnecting; }));
  {
    // An impostor at the same port: its certificate is refused, and said so.
    hub impostor(server_at(port, "stranger", "other_ca"));
    EXPECT_TRUE(heard.heard_saying(tls_category(), "unable to get local issuer certificate"))
        << heard.all();
    EXPECT_TRUE(impostor.connections().empty());
    EXPECT_EQ(c->state(), link_state::reconnecting);
  }
  hub back(server_at(port, "server", "ca"));
  auto in = back.wait_for_connection(patience);
  ASSERT_TRUE(in);
  ASSERT_TRUE(eventually([&] { return c->state() == link_state::connected; }));
  c->write("after", 1);
  EXPECT_EQ(in->wait_for("after", patience), value(1));
}

} // namespace
} // namespace socketengine
