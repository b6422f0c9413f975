// The MQTT bridge against a real broker: Debian's mosquitto, started by the
// test on a free port of 127.0.0.1, with mosquitto_sub and mosquitto_pub
// (Debian's mosquitto-clients) as the other side.

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <system_error>

#include <socketengine/image_codec.hpp>
#include <socketengine/mqtt.hpp>
#include <socketengine/socketengine.hpp>

#include "support/certificates.hpp"
#include "support/child_process.hpp"
#include "support/round_trips.hpp"
#include "support/temp_dir.hpp"
#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;

// A port of 127.0.0.1 kept for a test: bound, with SO_REUSEADDR, and not
// listening. Nobody listens there (a dial is refused), and while it is held
// the kernel gives it to no other socket: no hub or broker of a test running
// alongside (ctest -j) binds it by asking for port 0, and no client dials
// from it. mosquitto, which binds with SO_REUSEADDR too, may still listen on
// it. A port merely found free and let go could be taken meanwhile: by a
// listener that would then pass for the broker, or by another test's broker,
// or a broker could start where another test's bridge is redialling, each
// bringing some other test's messages into this one.
class reserved_port {
public:
  reserved_port() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const int on = 1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      const int e = errno;
      if (fd_ >= 0) ::close(fd_);
      throw std::system_error(e, std::generic_category(), "reserved port");
    }
    port_ = ntohs(a.sin_port);
  }
  ~reserved_port() { ::close(fd_); }
  reserved_port(const reserved_port&) = delete;
  reserved_port& operator=(const reserved_port&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }

private:
  int fd_;
  std::uint16_t port_ = 0;
};

// mosquitto on 127.0.0.1 only, anonymous, nothing kept on disk: a restart
// forgets every retained message, so what a subscriber finds after one is
// what the bridge published again.
class broker {
public:
  // On `port`, held for the broker's life: across a restart too.
  explicit broker(std::shared_ptr<const reserved_port> port = std::make_shared<reserved_port>(),
                  const std::string& more = "allow_anonymous true\n")
      : reserved_(std::move(port)), port_(reserved_->port()) {
    // Started as root, mosquitto would become user mosquitto before reading
    // the password file, which the test's private directories keep from it.
    std::ofstream(dir_.file("mosquitto.conf")) << "listener " << port_ << " 127.0.0.1\n"
                                               << "persistence false\n"
                                               << "user root\n"
                                               << more;
    start();
  }

  // Started once mosquitto itself says it runs, which it says after opening
  // its listener; one that cannot listen says why and exits. That something
  // accepts on the port would prove nothing: it need not be this broker.
  void start() {
    proc_.emplace(
        std::vector<std::string>{"/usr/sbin/mosquitto", "-c", dir_.file("mosquitto.conf")},
        test::child_options{.stderr_to_stdout = true});
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (out.find(" running\n") == std::string::npos)
      if (proc_->read_some(out, deadline) != test::child_process::read_result::data)
        throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) +
                                 ":\n" + out);
  }

  void kill() { proc_.reset(); }

  [[nodiscard]] std::uint16_t port() const { return port_; }

private:
  std::shared_ptr<const reserved_port> reserved_;
  test::temp_dir dir_;
  std::uint16_t port_;
  std::optional<test::child_process> proc_;
};

// What mosquitto_sub prints: up to `count` messages of `topic` (retained
// ones first), within `seconds`.
std::string subscribe(const broker& b, const std::string& topic, int count,
                      const std::vector<std::string>& more = {}) {
  std::vector<std::string> argv = {"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p",
                                   std::to_string(b.port()), "-t", topic,       "-C",
                                   std::to_string(count),    "-W", "10"};
  argv.insert(argv.end(), more.begin(), more.end());
  test::child_process sub(argv);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (sub.read_some(out, deadline) == test::child_process::read_result::data) {
  }
  sub.wait_exit(deadline);
  return out;
}

void publish(const broker& b, const std::string& topic, const std::string& payload) {
  test::child_process pub({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p",
                           std::to_string(b.port()), "-r", "-t", topic, "-m", payload});
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (pub.read_some(out, deadline) == test::child_process::read_result::data) {
  }
  ASSERT_EQ(pub.wait_exit(deadline), 0) << out;
}

// A hub with a bridge, and a peer hub named "robot" dialled into it.
struct bridged {
  explicit bridged(const broker& b, mqtt_bridge_options o = {}) {
    o.port = b.port();
    if (o.hub_name.empty()) o.hub_name = "base";
    bridge.emplace(centre, std::move(o));
    EXPECT_TRUE(bridge->wait_until_connected(patience));
    out = robot.connect("robot", "127.0.0.1", centre.port()); // both sides call it so
    EXPECT_TRUE(eventually([&] { return (in = test::find_named(centre, "robot")) != nullptr; }));
  }

  hub centre{{.port = 0}};
  hub robot{{.listen = false}};
  std::optional<mqtt_bridge> bridge;
  std::shared_ptr<connection> out; // robot -> centre
  std::shared_ptr<connection> in;  // centre's side
};

TEST(mqtt_bridge, a_late_subscriber_gets_the_latest_value_retained) {
  broker b;
  std::promise<void> other; // before the hubs, whose handler sets it
  bridged s(b, {.channels = {"temp*"}});
  // Callbacks run in order, the bridge's first: once this one has run for
  // "other", the bridge has been offered every temp before it.
  s.centre.on("other",
              [&](const std::shared_ptr<connection>&, const value&) { other.set_value(); });
  for (int i = 1; i <= 100; ++i)
    s.out->write("temp", i);
  s.out->write("other", "not chosen");
  ASSERT_EQ(other.get_future().wait_for(patience), std::future_status::ready);
  ASSERT_EQ(s.in->get("temp"), value(100));
  ASSERT_TRUE(s.bridge->flush(patience));
  EXPECT_EQ(s.bridge->topic_of("robot", "temp"), "socketengine/base/robot/temp");
  EXPECT_EQ(subscribe(b, "socketengine/base/robot/temp", 1), "100\n");
  // Only the chosen channel: one topic, and nothing retained for "other".
  EXPECT_EQ(s.bridge->stats().topics, 1u);
  EXPECT_EQ(subscribe(b, "socketengine/#", 1, {"-v"}), "socketengine/base/robot/temp 100\n");
}

TEST(mqtt_bridge, a_topic_from_the_broker_reaches_the_chosen_peer_as_a_channel) {
  broker b;
  bridged s(b, {.inbound = {{.topic_filter = "fleet/cmd/#", .peer = "robot"}}});
  publish(b, "fleet/cmd/speed", "2.5");
  publish(b, "fleet/cmd/say", "hello there");
  publish(b, "fleet/other", "1"); // no route
  EXPECT_EQ(s.out->wait_for("fleet/cmd/speed", patience), value(2.5));
  EXPECT_EQ(s.out->wait_for("fleet/cmd/say", patience), value("hello there"));
  EXPECT_EQ(s.out->get("fleet/other"), std::nullopt);
  // Counted once the write has returned, which may be after the peer has it.
  EXPECT_TRUE(eventually([&] { return s.bridge->stats().written == 2; }));
}

TEST(mqtt_bridge, images_go_as_png_bytes) {
  broker b;
  bridged s(b, {.image_format = "png"});
  auto img = test::pattern_image(64, 48, pixel_order::bgr);
  s.out->write_image(img);
  ASSERT_TRUE(s.in->wait_for_image(patience));
  ASSERT_TRUE(eventually([&] { return s.bridge->stats().topics == 1; }));
  ASSERT_TRUE(s.bridge->flush(patience));
  auto bytes = subscribe(b, "socketengine/base/robot/image", 1, {"-N"});
  auto got = decode_image({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  EXPECT_EQ(got, img);
}

TEST(mqtt_bridge, images_over_the_size_cap_or_too_soon_are_skipped) {
  broker b;
  std::atomic<int> images{0}; // before the hubs, whose handler counts
  // One image an hour from a peer: the second and third come too soon.
  bridged s(b, {.image_format = "png", .min_image_interval = 1h});
  // Runs after the bridge's handler, added first, for each image.
  s.centre.on_image([&](const std::shared_ptr<connection>&, const image&) { ++images; });
  for (int i = 0; i < 3; ++i) {
    s.out->write_image(test::pattern_image(64, 48, pixel_order::bgr, static_cast<unsigned>(i)));
    ASSERT_TRUE(eventually([&] { return images == i + 1; }));
  }
  ASSERT_TRUE(s.bridge->flush(patience));
  EXPECT_EQ(s.bridge->stats().published, 1u);
  auto bytes = subscribe(b, "socketengine/base/robot/image", 1, {"-N"});
  EXPECT_EQ(decode_image({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}),
            test::pattern_image(64, 48, pixel_order::bgr, 0));

  // And one over the size cap is dropped and counted.
  bridged small(b, {.image_format = "png", .max_image_bytes = 100});
  small.out->write_image(test::pattern_image(64, 48, pixel_order::bgr));
  ASSERT_TRUE(eventually([&] { return small.bridge->stats().images_too_large == 1; }));
  EXPECT_EQ(small.bridge->stats().topics, 0u);
}

TEST(mqtt_bridge, a_broker_restarted_gets_the_latest_values_and_no_backlog) {
  broker b;
  bridged s(b, {.redial_min = 1s, .redial_max = 1s});
  s.out->write("pose", 0);
  s.out->write("label", "r1"); // published before the restart, never after
  ASSERT_TRUE(eventually([&] { return s.bridge->stats().acknowledged == 2; }));
  b.kill();
  ASSERT_TRUE(eventually([&] { return !s.bridge->connected(); }));
  const auto before = s.bridge->stats().published;
  for (int i = 1; i <= 1000; ++i)
    s.out->write("pose", i);
  s.out->write("mode", "auto");
  ASSERT_EQ(s.in->wait_for("mode", patience), value("auto"));
  ASSERT_TRUE(eventually([&] { return s.bridge->stats().topics == 3; }));
  // Held while the broker is away: one latest value per topic, no more.
  EXPECT_EQ(s.bridge->stats().published, before);
  b.start();
  ASSERT_TRUE(s.bridge->wait_until_connected(patience));
  ASSERT_TRUE(s.bridge->flush(patience));
  EXPECT_EQ(subscribe(b, "socketengine/base/robot/pose", 1), "1000\n");
  EXPECT_EQ(subscribe(b, "socketengine/base/robot/mode", 1), "\"auto\"\n");
  // The restarted broker kept nothing: this one is there because every
  // latest value went again.
  EXPECT_EQ(subscribe(b, "socketengine/base/robot/label", 1), "\"r1\"\n");
  EXPECT_EQ(s.bridge->stats().published, before + 3);
  EXPECT_EQ(s.bridge->stats().connects, 2u);
}

TEST(mqtt_bridge, two_bridges_on_one_broker_pass_a_value_once) {
  broker b;
  // Each bridge takes every topic under the prefix back into its hub, and
  // the two hubs are peers: without the origin rule a value would go round
  // a -> broker -> b -> hub a -> broker ... for ever.
  std::promise<void> barrier;
  hub a({.port = 0});
  hub bh({.port = 0});
  a.on("barrier", [&](const std::shared_ptr<connection>&, const value&) { barrier.set_value(); });
  // Bridge a publishes x and every topic under the prefix (what a loop
  // would need), not the test's barrier.
  mqtt_bridge ba(a, {.port = b.port(),
                     .hub_name = "a",
                     .channels = {"x", "socketengine/*"},
                     .inbound = {{.topic_filter = "socketengine/#"}}});
  mqtt_bridge bb(
      bh, {.port = b.port(), .hub_name = "b", .inbound = {{.topic_filter = "socketengine/#"}}});
  ASSERT_TRUE(ba.wait_until_connected(patience));
  ASSERT_TRUE(bb.wait_until_connected(patience));
  // Named "b" on both sides, as a dialled connection is.
  auto a_to_b = a.connect("b", "127.0.0.1", bh.port());
  std::shared_ptr<connection> b_to_a;
  ASSERT_TRUE(eventually([&] { return (b_to_a = test::find_named(bh, "b")) != nullptr; }));

  b_to_a->write("x", 1); // a's peer "b" writes x: bridge a publishes it
  // Bridge b takes it from the broker and writes it to its peers: hub a.
  const auto looped = ba.topic_of("b", "x");
  ASSERT_EQ(a_to_b->wait_for(looped, patience), value(1));
  // a's callbacks run in order: once the barrier's has run, the bridge has
  // seen the looped value.
  b_to_a->write("barrier", true);
  ASSERT_EQ(barrier.get_future().wait_for(patience), std::future_status::ready);
  ASSERT_TRUE(ba.flush(patience));
  ASSERT_TRUE(bb.flush(patience));
  EXPECT_EQ(ba.stats().published, 1u); // x, not the looped topic
  EXPECT_EQ(ba.stats().topics, 1u);
  EXPECT_EQ(bb.stats().published, 0u); // hub a wrote nothing of its own to b
  // Counted once the write has returned, which may be after hub a has it.
  EXPECT_TRUE(eventually([&] { return bb.stats().written == 1; }));
  EXPECT_EQ(ba.stats().received, 0u); // its own publish never came back
}

TEST(mqtt_bridge, reaches_a_broker_over_tls_with_a_password_and_says_when_refused) {
  test::certificates certs;
  test::temp_dir dir;
  const auto passwords = dir.file("passwd");
  ASSERT_EQ(
      std::system(("/usr/bin/mosquitto_passwd -c -b '" + passwords + "' robot secret").c_str()), 0);
  broker b(std::make_shared<reserved_port>(),
           "cafile " + certs.cert("ca") + "\ncertfile " + certs.cert("server") + "\nkeyfile " +
               certs.key("server") + "\nallow_anonymous false\npassword_file " + passwords + "\n");
  const mqtt_tls_options tls{.enabled = true, .ca_file = certs.cert("ca")};
  {
    bridged s(b, {.username = "robot", .password = "secret", .tls = tls});
    ASSERT_TRUE(s.bridge->connected());
    s.out->write("pose", 3);
    ASSERT_TRUE(eventually([&] { return s.bridge->stats().acknowledged == 1; }));
    EXPECT_EQ(subscribe(b, "socketengine/base/robot/pose", 1,
                        {"--cafile", certs.cert("ca"), "-u", "robot", "-P", "secret"}),
              "3\n");
  }
  hub centre({.port = 0});
  mqtt_bridge wrong(
      centre,
      {.port = b.port(), .username = "robot", .password = "guess", .tls = tls, .hub_name = "base"});
  ASSERT_TRUE(eventually([&] { return !wrong.last_error().empty(); }));
  EXPECT_NE(wrong.last_error().find("refused"), std::string::npos) << wrong.last_error();
  EXPECT_FALSE(wrong.connected());
}

TEST(mqtt_bridge, dials_a_broker_that_starts_later) {
  hub centre({.port = 0});
  hub robot({.listen = false});
  // Refused until the broker starts on it; nobody else's meanwhile.
  const auto port = std::make_shared<reserved_port>();
  mqtt_bridge bridge(
      centre, {.port = port->port(), .redial_min = 1s, .redial_max = 1s, .hub_name = "base"});
  auto out = robot.connect("robot", "127.0.0.1", centre.port());
  out->write("pose", 7);
  ASSERT_TRUE(eventually([&] { return bridge.stats().topics == 1; }));
  EXPECT_FALSE(bridge.connected());
  broker b(port);
  ASSERT_TRUE(bridge.wait_until_connected(patience));
  ASSERT_TRUE(bridge.flush(patience));
  EXPECT_EQ(subscribe(b, "socketengine/base/robot/pose", 1), "7\n");
}

TEST(mqtt_bridge, holds_values_for_a_broker_that_is_not_there_and_stops_at_once) {
  hub centre({.port = 0});
  hub robot({.listen = false});
  const reserved_port nobody; // refused, and no other test's broker meanwhile
  auto start = std::chrono::steady_clock::now();
  {
    mqtt_bridge bridge(
        centre,
        {.port = nobody.port(), .redial_min = 10s, .redial_max = 10s, .hub_name = "base"});
    auto out = robot.connect("robot", "127.0.0.1", centre.port());
    out->write("pose", 1);
    ASSERT_TRUE(eventually([&] { return bridge.stats().topics == 1; }));
    EXPECT_FALSE(bridge.connected());
    EXPECT_EQ(bridge.stats().published, 0u);
    start = std::chrono::steady_clock::now();
  }
  // Destroyed mid-redial: not after the 10 s redial delay.
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("stopped in %.1f ms\n", std::chrono::duration<double, std::milli>(took).count());
  EXPECT_LT(took, 10s);
}

} // namespace
} // namespace socketengine
