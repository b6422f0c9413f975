// LAN discovery across network namespaces that each test makes (as root):
//
//      ns A                 ns B                   ns C
//   a0 10.201.1.1 ---- b0 10.201.1.2
//                      b1 10.201.2.2 ---- c0 10.201.2.3
//
// B forwards between its two networks, so A reaches C by unicast through
// it, but not by multicast (queries go with TTL 1). A hub with a name in B
// is found from A and from C, each time with only its address on the
// network asked from; connect_by_name dials it; hubs without a name or with
// discovery off stay silent; listed peers find a hub that multicast does
// not reach. Nothing is sent outside these namespaces.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <socketengine/error.hpp>
#include <socketengine/socketengine.hpp>

#include "support/netns.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::inside;
using test::netns;
using test::patience;

std::string unique_prefix() {
  static std::atomic<int> made{0};
  return "se" + std::to_string(::getpid()) + "t" + std::to_string(made++);
}

class discovery : public ::testing::Test {
protected:
  discovery()
      : prefix_(unique_prefix()), a_(prefix_ + "a"), b_(prefix_ + "b"), c_(prefix_ + "c") {
    test::veth(a_, "a0", "10.201.1.1/24", b_, "b0", "10.201.1.2/24");
    test::veth(b_, "b1", "10.201.2.2/24", c_, "c0", "10.201.2.3/24");
    b_.exec("sysctl -q -w net.ipv4.ip_forward=1");
    test::run_command("ip -n " + a_.name() + " route add 10.201.2.0/24 via 10.201.1.2");
    test::run_command("ip -n " + c_.name() + " route add 10.201.1.0/24 via 10.201.2.2");
    // A veth end carries traffic once both ends are up.
    for (auto [ns, dev] : {std::pair{&a_, "a0"}, {&b_, "b0"}, {&b_, "b1"}, {&c_, "c0"}}) {
      std::string check = "ip -n " + ns->name() + " link show " + dev + " | grep -q LOWER_UP";
      EXPECT_TRUE(eventually([&] { return std::system(check.c_str()) == 0; }))
          << dev << " never came up";
    }
  }

  // A hub made inside `ns` (its threads and sockets live there).
  static std::unique_ptr<hub> hub_in(const netns& ns, hub_options o) {
    inside in(ns);
    if (!o.port) o.port = 0;
    return std::make_unique<hub>(std::move(o));
  }

  // discover() asked from inside `ns`.
  static std::vector<discovered_hub> discover_from(const netns& ns, discover_options o = {}) {
    inside in(ns);
    if (o.timeout == discover_options{}.timeout) o.timeout = 800ms;
    return discover(o);
  }

  // Asks from `ns` until the hub `id` answers (a hub's first turn on its
  // I/O thread may come after the first query), and returns that round.
  static std::vector<discovered_hub> discover_until_found(const netns& ns, const std::string& id,
                                                          discover_options o = {}) {
    std::vector<discovered_hub> found;
    eventually(
        [&] {
          found = discover_from(ns, o);
          return std::any_of(found.begin(), found.end(),
                             [&](const discovered_hub& h) { return h.id == id; });
        },
        patience);
    return found;
  }

  static const discovered_hub* by_id(const std::vector<discovered_hub>& found,
                                     const std::string& id) {
    auto it = std::find_if(found.begin(), found.end(),
                           [&](const discovered_hub& h) { return h.id == id; });
    return it == found.end() ? nullptr : &*it;
  }

  std::string prefix_;
  netns a_, b_, c_;
};

TEST_F(discovery, a_named_hub_answers_with_only_its_address_on_the_network_asked_from) {
  auto alpha = hub_in(b_, {.name = "alpha"});
  ASSERT_TRUE(alpha->discoverable());

  auto from_a = discover_until_found(a_, alpha->id());
  auto* seen = by_id(from_a, alpha->id());
  ASSERT_NE(seen, nullptr) << "alpha was not found from A";
  EXPECT_EQ(seen->name, "alpha");
  EXPECT_EQ(seen->port, alpha->port());
  EXPECT_EQ(seen->protocol, 1);
  EXPECT_FALSE(seen->tls);
  EXPECT_FALSE(seen->token);
  EXPECT_EQ(seen->addresses, std::vector<std::string>{"10.201.1.2"});
  EXPECT_EQ(seen->from, "10.201.1.2");
  EXPECT_EQ(from_a.size(), 1u);

  auto from_c = discover_until_found(c_, alpha->id());
  seen = by_id(from_c, alpha->id());
  ASSERT_NE(seen, nullptr) << "alpha was not found from C";
  EXPECT_EQ(seen->addresses, std::vector<std::string>{"10.201.2.2"});
}

TEST_F(discovery, an_answer_says_what_a_dial_needs) {
  auto locked = hub_in(b_, {.name = "locked", .native = false, .auth = {.token = "secret"}});
  auto found = discover_until_found(a_, locked->id());
  auto* seen = by_id(found, locked->id());
  ASSERT_NE(seen, nullptr);
  EXPECT_TRUE(seen->token);
  EXPECT_FALSE(seen->tls);
  EXPECT_EQ(seen->protocol, 0); // native off: the legacy protocol only
}

TEST_F(discovery, connect_by_name_dials_the_hub_found_and_values_flow_both_ways) {
  auto alpha = hub_in(b_, {.name = "alpha"});
  auto asker = hub_in(a_, {});
  std::shared_ptr<connection> c;
  {
    inside in(a_); // the query goes out from A; the dial runs on the hub's own thread
    discover_options o;
    o.timeout = patience;
    c = asker->connect_by_name("alpha", o);
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name(), "alpha");
  EXPECT_EQ(c->address(), "10.201.1.2");
  c->write("greeting", "hello from A");
  auto got = alpha->wait_for("greeting", patience);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "hello from A");
  ASSERT_EQ(alpha->write_all("answer", 42), 1u);
  auto back = c->wait_for("answer", patience);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, 42);
}

TEST_F(discovery, hubs_without_a_name_or_with_discovery_off_are_not_found) {
  auto alpha = hub_in(b_, {.name = "alpha"});
  auto quiet = hub_in(b_, {.name = "quiet", .discovery = {.enabled = false}});
  auto unnamed = hub_in(b_, {});
  auto beta = hub_in(b_, {.name = "beta"}); // a second hub of one machine answers too
  EXPECT_FALSE(quiet->discoverable());
  EXPECT_FALSE(unnamed->discoverable());

  std::vector<discovered_hub> found;
  ASSERT_TRUE(eventually([&] {
    found = discover_from(a_);
    return by_id(found, alpha->id()) && by_id(found, beta->id());
  })) << "alpha and beta were not both found";
  EXPECT_EQ(found.size(), 2u);
  EXPECT_EQ(by_id(found, quiet->id()), nullptr);
  EXPECT_EQ(by_id(found, unnamed->id()), nullptr);

  // Asked by name, the silent hub is not found, and nothing is dialled.
  auto asker = hub_in(a_, {});
  std::error_code ec;
  {
    inside in(a_);
    discover_options o;
    o.timeout = 500ms;
    EXPECT_EQ(asker->connect_by_name("quiet", ec, o), nullptr);
  }
  EXPECT_EQ(ec, errc::hub_not_found);
  EXPECT_TRUE(asker->connections().empty());
}

TEST_F(discovery, a_query_for_one_name_is_answered_by_that_hub_only) {
  auto alpha = hub_in(b_, {.name = "alpha"});
  auto beta = hub_in(b_, {.name = "beta"});
  ASSERT_NE(by_id(discover_until_found(a_, beta->id()), beta->id()), nullptr);
  discover_options o;
  o.name = "alpha";
  auto found = discover_until_found(a_, alpha->id(), o);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, alpha->id());
}

TEST_F(discovery, listed_peers_find_a_hub_that_multicast_does_not_reach) {
  // gamma is in C, two networks away from A: a multicast query from A
  // stops at B, a unicast one to a listed peer is routed through.
  auto gamma = hub_in(c_, {.name = "gamma"});
  auto alpha = hub_in(b_, {.name = "alpha"});
  auto multicast = discover_until_found(a_, alpha->id());
  EXPECT_EQ(by_id(multicast, gamma->id()), nullptr) << "a multicast query crossed a router";

  discover_options listed;
  listed.multicast = false;
  listed.peers = {"10.201.2.3"};
  auto found = discover_until_found(a_, gamma->id(), listed);
  auto* seen = by_id(found, gamma->id());
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->addresses, std::vector<std::string>{"10.201.2.3"});
  EXPECT_EQ(by_id(found, alpha->id()), nullptr) << "multicast was off, and alpha is not listed";

  // With neither multicast nor peers, nobody is asked.
  discover_options nobody;
  nobody.multicast = false;
  nobody.peers_env.clear();
  EXPECT_TRUE(discover_from(a_, nobody).empty());

  auto asker = hub_in(a_, {});
  std::shared_ptr<connection> c;
  {
    inside in(a_);
    listed.timeout = patience;
    c = asker->connect_by_name("gamma", listed);
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address(), "10.201.2.3");
  c->write("routed", true);
  EXPECT_EQ(gamma->wait_for("routed", patience).size(), 1u);
}

TEST_F(discovery, an_address_that_cannot_be_reached_does_not_stop_connect_by_name) {
  // alpha has a second address on b0 that A routes into nowhere (a
  // gateway that does not exist): that candidate's dial goes unanswered,
  // the other connects.
  test::run_command("ip -n " + b_.name() + " addr add 10.201.1.20/24 dev b0");
  test::run_command("ip -n " + a_.name() + " route add 10.201.1.20/32 via 10.201.1.99");
  auto alpha = hub_in(b_, {.name = "alpha"});
  auto found = discover_until_found(a_, alpha->id());
  auto* seen = by_id(found, alpha->id());
  ASSERT_NE(seen, nullptr);
  auto addresses = seen->addresses;
  std::sort(addresses.begin(), addresses.end());
  EXPECT_EQ(addresses, (std::vector<std::string>{"10.201.1.2", "10.201.1.20"}));

  auto asker = hub_in(a_, {});
  std::shared_ptr<connection> c;
  {
    inside in(a_);
    discover_options o;
    o.timeout = patience;
    o.attempt_timeout = patience;
    c = asker->connect_by_name("alpha", o);
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address(), "10.201.1.2");
  EXPECT_EQ(asker->connections().size(), 1u);
}

TEST_F(discovery, garbage_and_floods_of_queries_leave_the_hub_answering) {
  auto alpha = hub_in(b_, {.name = "alpha"});
  ASSERT_NE(by_id(discover_until_found(a_, alpha->id()), alpha->id()), nullptr);
  {
    inside in(a_);
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(7183);
    inet_pton(AF_INET, "10.201.1.2", &to.sin_addr);
    const std::vector<std::string> junk = {
        "", "{", "not json", std::string(5000, '['), R"({"socketengine":"discover"})",
        R"({"socketengine":"discover","version":"1"})", R"({"socketengine":"hub","version":1})",
        R"({"socketengine":"discover","version":1,"name":7})", std::string(1400, 'x')};
    for (int round = 0; round < 200; ++round)
      for (const auto& d : junk)
        ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    // A flood of well-formed queries: answered at most 50 a second.
    std::string q = R"({"socketengine":"discover","version":1})";
    for (int i = 0; i < 2000; ++i)
      ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    int answers = 0;
    char buf[2048];
    auto until = std::chrono::steady_clock::now() + 300ms;
    while (std::chrono::steady_clock::now() < until) {
      timeval tv{0, 20000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (::recv(fd, buf, sizeof buf, 0) > 0) ++answers;
    }
    ::close(fd);
    EXPECT_GT(answers, 0);
    EXPECT_LE(answers, 120) << "answers were not bounded";
  }
  // The bucket refills: the hub is found again.
  ASSERT_NE(by_id(discover_until_found(a_, alpha->id()), alpha->id()), nullptr);
}

TEST(discovery_options, a_bad_name_is_refused_when_the_hub_is_made) {
  EXPECT_THROW(hub({.name = std::string(256, 'x'), .port = 0}), std::invalid_argument);
  EXPECT_THROW(hub({.name = "tab\there", .port = 0}), std::invalid_argument);
  EXPECT_THROW(discover({.timeout = 1ms, .name = std::string(300, 'n'), .multicast = false}),
               std::invalid_argument);
  EXPECT_THROW(discover({.timeout = 1ms, .group = "10.0.0.1"}), std::invalid_argument);
  EXPECT_THROW(discover({.timeout = 1ms, .multicast = false, .peers = {"host:notaport"}}),
               std::invalid_argument);
}

} // namespace
} // namespace socketengine
