// Links that notice trouble in time: a message that trickles is cut at the
// minimum rate, peers that do not name themselves are bounded in time and
// number, native links carry heartbeats and drop a stopped peer on either
// side, a healthy idle link is never dropped, and TCP connections get the
// keepalive and user timeout the options ask for.

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "protocol/legacy/line_codec.hpp"
#include "protocol/native/frame_codec.hpp"
#include "support/child_process.hpp"
#include "support/test_images.hpp"
#include "support/round_trips.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::baseline_round_trips;
using test::describe;
using test::eventually;
using test::find_named;
using test::name_line;
using test::patience;
using test::raw_peer;
using test::round_trips_until;

using reports = test::error_reports;

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// --- deadlines -------------------------------------------------------------

limits slow_limits() {
  return {.min_receive_rate = 1000, .receive_grace = 200ms, .identify_timeout = 60s};
}

TEST(liveness, a_line_begun_and_left_unfinished_is_cut_at_the_minimum_rate) {
  hub h({.port = 0, .limits = slow_limits()});
  reports heard(h);
  raw_peer p;
  p.connect(h.port());
  p.send(name_line("slow"));
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  auto began = std::chrono::steady_clock::now();
  p.send(R"({"type":"x","data":")"); // and nothing more
  EXPECT_TRUE(p.wait_closed(patience));
  // 200 ms of grace and 20 bytes at 1,000 bytes/s: not before 220 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - began, 220ms);
  EXPECT_TRUE(heard.heard(errc::receive_timeout));
  EXPECT_TRUE(eventually([&] { return !c->is_open(); }));
  EXPECT_EQ(c->close_reason(), errc::receive_timeout);
}

TEST(liveness, a_line_that_keeps_coming_at_the_rate_is_not_cut) {
  hub h({.port = 0, .limits = slow_limits()});
  reports heard(h);
  raw_peer p;
  p.connect(h.port());
  p.send(name_line("steady"));
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  // 2,000 bytes/s for about a second: well past the grace, above the rate.
  std::string line = R"({"type":"x","data":")" + std::string(2000, 'a') + "\"}\n";
  for (std::size_t at = 0; at < line.size(); at += 100) {
    p.send(std::string_view(line).substr(at, 100));
    std::this_thread::sleep_for(50ms); // pacing the sender, not waiting for the engine
  }
  EXPECT_TRUE(c->wait_for("x", patience));
  EXPECT_TRUE(c->is_open());
  EXPECT_EQ(heard.count(errc::receive_timeout), 0u);
}

TEST(liveness, a_hub_closes_a_peer_that_does_not_name_itself_in_time) {
  hub h({.port = 0, .limits = {.identify_timeout = 200ms}});
  reports heard(h);
  raw_peer anonymous, named;
  named.connect(h.port());
  named.send(name_line("known"));
  anonymous.connect(h.port());
  EXPECT_TRUE(anonymous.wait_closed(patience));
  EXPECT_TRUE(heard.heard(errc::not_identified));
  // The one that named itself stays, well past the deadline.
  EXPECT_FALSE(named.wait_closed(600ms));
  auto known = find_named(h, "known");
  ASSERT_TRUE(known);
  EXPECT_TRUE(known->is_open());
}

TEST(liveness, a_hub_refuses_anonymous_peers_past_their_number) {
  hub h({.port = 0, .limits = {.identify_timeout = 60s, .max_unidentified = 3}});
  reports heard(h);
  raw_peer first[3];
  for (auto& p : first) p.connect(h.port());
  ASSERT_TRUE(h.wait_for_connections(3, patience));
  raw_peer fourth;
  fourth.connect(h.port());
  EXPECT_TRUE(fourth.wait_closed(patience));
  EXPECT_TRUE(heard.heard(errc::not_identified));
  EXPECT_EQ(h.connections().size(), 3u);
  // Once one of them names itself, there is room again.
  first[0].send(name_line("late"));
  ASSERT_TRUE(eventually([&] { return find_named(h, "late") != nullptr; }));
  raw_peer fifth;
  fifth.connect(h.port());
  EXPECT_TRUE(h.wait_for_connections(4, patience));
  EXPECT_FALSE(fifth.wait_closed(200ms));
}

TEST(liveness, a_host_keeps_silent_clients_but_a_flood_of_them_ends) {
  host h({.port = 0, .limits = {.identify_timeout = 100ms, .max_unidentified = 2}});
  reports heard(h);
  h.start();
  raw_peer a, b;
  a.connect(h.port());
  ASSERT_TRUE(h.wait_for_connections(1, patience));
  b.connect(h.port());
  ASSERT_TRUE(h.wait_for_connections(2, patience));
  // Silence alone closes nobody on a host: a client may say nothing until
  // it writes. Past the identify timeout they are still there.
  EXPECT_FALSE(a.wait_closed(300ms));
  // But one more silent socket past the number closes the oldest.
  raw_peer c;
  c.connect(h.port());
  EXPECT_TRUE(a.wait_closed(patience));
  EXPECT_TRUE(heard.heard(errc::not_identified));
  EXPECT_FALSE(b.wait_closed(100ms));
  EXPECT_FALSE(c.wait_closed(100ms));
}

TEST(liveness, a_flood_of_silent_sockets_takes_at_most_the_bound) {
  // The attack: hundreds of sockets that connect and say nothing. The
  // identify timeout is far off: only the bound can refuse them.
  hub h({.port = 0, .limits = {.identify_timeout = 60s, .max_unidentified = 64}});
  reports heard(h);
  std::vector<raw_peer> flood(test::long_run() ? 1000 : 200);
  for (auto& p : flood) p.connect(h.port());
  EXPECT_TRUE(eventually([&] { return heard.count(errc::not_identified) == flood.size() - 64; }));
  std::size_t open = 0;
  for (auto& c : h.connections()) open += c->is_open() ? 1 : 0;
  EXPECT_EQ(open, 64u);
  EXPECT_EQ(h.connections().size(), 64u); // the refused were never listed
  // The admitted stay until they name themselves or their time is up (see
  // a_hub_closes_a_peer_that_does_not_name_itself_in_time).
  EXPECT_FALSE(flood[0].wait_closed(200ms));
}

// Resident memory of this process, in bytes.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Prints how much the process grew since `before` (resident_bytes()), and
// checks it is within the budget and 20 MiB, the issue's bound.
void expect_growth_within(std::size_t budget, std::size_t before) {
  auto now = resident_bytes();
  auto growth = now - std::min(before, now);
  std::printf("  RSS grew %.1f MiB (budget %.0f MiB)\n", static_cast<double>(growth) / (1 << 20),
              static_cast<double>(budget) / (1 << 20));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // Resident memory means little under a sanitizer, whose allocator keeps
  // freed blocks and adds shadow memory; the counts the tests check hold
  // there too.
  EXPECT_LT(growth, budget + (20u << 20));
#endif
}

// Lines, or native frames (after the switch).
class large_messages : public ::testing::TestWithParam<bool> {};

TEST_P(large_messages, from_many_peers_together_stay_within_the_budget) {
  // Long run: 16 messages of 60 MiB against 256 MiB, the issue's attack.
  bool native = GetParam();
  const std::size_t budget = test::long_run() ? 256u << 20 : 32u << 20;
  const std::size_t line = test::long_run() ? 60u << 20 : 8u << 20;
  hub h({.port = 0, .limits = {.max_receive_bytes = budget, .identify_timeout = 60s}});
  reports heard(h);
  std::vector<raw_peer> peers(16);
  for (std::size_t i = 0; i < peers.size(); ++i) {
    peers[i].connect(h.port());
    auto greeting = name_line(test::numbered("p", static_cast<long long>(i)));
    if (native) {
      peers[i].expect_native_offer();
      greeting += std::string(raw_peer::native_offer) + "\n";
      greeting += R"({"type":"__native","data":{"switch":1}})" "\n";
    }
    peers[i].send(greeting);
  }
  ASSERT_TRUE(h.wait_for_connections(peers.size(), patience));
  if (native) {
    ASSERT_TRUE(eventually([&] {
      auto cs = h.connections();
      return std::all_of(cs.begin(), cs.end(), [](auto& c) { return c->is_native(); });
    }));
  }
  // Each starts a message and leaves it unfinished: four times the budget
  // claimed in all (long run: nearly four).
  std::string part;
  if (native) {
    detail::native::append_json(part, "x", value(std::string(line, 'a')));
    part.pop_back();
  } else {
    part = R"({"type":"x","data":")" + std::string(line, 'a');
  }
  // And a good peer, whose round trips are the figure of how much the
  // flood costs the others.
  hub good({.listen = false});
  auto mine = good.connect("good", "127.0.0.1", h.port());
  ASSERT_TRUE(mine);
  std::shared_ptr<connection> theirs;
  ASSERT_TRUE(eventually([&] { return (theirs = find_named(h, "good")) != nullptr; }));
  test::round_trip(*mine, *theirs);
  auto baseline = baseline_round_trips(*mine, *theirs);
  auto before = resident_bytes();
  std::atomic<std::size_t> sent{0};
  std::vector<std::thread> senders;
  for (auto& p : peers)
    senders.emplace_back([&p, &part, &sent] {
      try {
        p.send(part);
      } catch (const std::exception&) {
        // closed by the hub part way: what this test expects of some
      }
      ++sent;
    });
  auto rtts = round_trips_until(*mine, *theirs, [&] { return sent == peers.size(); });
  for (auto& t : senders) t.join();
  std::printf("good peer meanwhile: %s (baseline: %s)\n", describe(rtts).c_str(),
              describe(baseline).c_str());
  // Those whose lines would pass the budget are closed; the others hold
  // their lines, within it.
  // A sender is done once the kernel has its bytes, which the hub may not
  // have read yet: the count holds once it has.
  const std::size_t fit = budget / line;
  std::size_t open = 0;
  EXPECT_TRUE(eventually([&] {
    open = 0;
    for (auto& c : h.connections()) open += c->is_open() && c != theirs ? 1 : 0;
    return open <= fit;
  }));
  // Each close is reported on the callback thread, after it happened.
  EXPECT_TRUE(eventually([&] { return heard.count(errc::over_budget) >= peers.size() - fit; }))
      << heard.count(errc::over_budget) << " closes reported";
  EXPECT_TRUE(theirs->is_open());
  EXPECT_GE(open, 1u);
  std::printf("16 peers x %zu MiB unfinished %s, budget %zu MiB: %zu open\n", line >> 20,
              native ? "frames" : "lines", budget >> 20, open);
  expect_growth_within(budget, before);
}

INSTANTIATE_TEST_SUITE_P(liveness, large_messages, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "native" : "legacy"; });

TEST(liveness, values_kept_from_peers_that_left_are_dropped_to_stay_within_the_budget) {
  // The attack: peers store many large values and leave; a hub keeps
  // closed connections listed with their values.
  // Long run: 64 channels each, the issue's attack, against 128 MiB.
  const std::size_t budget = test::long_run() ? 128u << 20 : 16u << 20;
  const int channels = test::long_run() ? 64 : 12;
  const auto last = test::numbered("c", channels - 1);
  hub h({.port = 0, .limits = {.max_receive_bytes = budget}});
  reports heard(h);
  const std::string megabyte(1u << 20, 'v');
  auto before = resident_bytes();
  for (int round = 0; round < 3; ++round) {
    auto name = test::numbered("p", round);
    {
      // A raw peer, so that what the process holds is the hub's alone.
      raw_peer peer;
      peer.connect(h.port());
      peer.send(name_line(name));
      for (int i = 0; i < channels; ++i) {
        std::string line = R"({"type":")";
        line += test::numbered("c", i);
        line += R"(","data":")";
        line += megabyte;
        line += "\"}\n";
        peer.send(line);
      }
      peer.send(R"({"type":"done","data":true})" "\n");
      ASSERT_TRUE(eventually([&] { return !h.get_by_name(name, "done").empty(); }));
    } // it leaves, its 12 MiB kept on the hub
    ASSERT_TRUE(eventually([&] { return !find_named(h, name)->is_open(); }));
  }
  // Each newcomer pushed the total past the budget, and what the one before
  // had left was dropped, reported; the last one's values are still there.
  EXPECT_TRUE(eventually([&] { return heard.count(errc::over_budget) == 2; }));
  EXPECT_TRUE(h.get_by_name("p0", "c0").empty());
  EXPECT_TRUE(h.get_by_name("p1", last).empty());
  EXPECT_EQ(h.get_by_name("p2", last).size(), 1u);
  for (const auto& d : heard.details(errc::over_budget))
    EXPECT_NE(d.find("closed connection"), std::string::npos) << d;
  std::printf("3 peers x %d MiB of values, then gone, budget %zu MiB:\n", channels,
              budget >> 20);
  expect_growth_within(budget, before);
}

TEST(liveness, a_peer_that_stores_more_than_the_budget_is_closed_and_the_others_go_on) {
  constexpr std::size_t budget = 8u << 20;
  hub h({.port = 0, .limits = {.max_receive_bytes = budget}});
  reports heard(h);
  hub small({.listen = false});
  auto modest = small.connect("modest", "127.0.0.1", h.port());
  modest->write("x", 1);
  ASSERT_TRUE(eventually([&] { return !h.get_by_name("modest", "x").empty(); }));
  hub big({.listen = false, .reconnect = {.enabled = false}});
  auto greedy = big.connect("greedy", "127.0.0.1", h.port());
  const std::string megabyte(1u << 20, 'v');
  // The hub may cut it off before the last write: then writing stops.
  for (int i = 0; i < 12; ++i) {
    std::error_code ec;
    greedy->write(test::numbered("c", i), megabyte, ec);
    if (ec) break;
  }
  ASSERT_TRUE(heard.heard(errc::over_budget));
  auto on_hub = find_named(h, "greedy");
  ASSERT_TRUE(on_hub);
  EXPECT_TRUE(eventually([&] { return !on_hub->is_open(); }));
  EXPECT_EQ(on_hub->close_reason(), errc::over_budget);
  EXPECT_FALSE(on_hub->get("c0")); // dropped with it
  auto in = find_named(h, "modest");
  ASSERT_TRUE(in);
  EXPECT_TRUE(in->is_open());
  EXPECT_EQ(in->get("x"), value(1));
  test::round_trip(*modest, *in);
}

TEST(liveness, images_waiting_to_be_decoded_count_against_the_budget) {
  // A peer that ignores its window of images in flight sends a bomb, which
  // keeps the work thread busy (16 MiB once decoded), and right behind it
  // four PNG frames that do not compress, of some 12 MB each. Without the
  // images waiting counted, the most ever charged is the bomb and one
  // frame being read, 27.4 MiB, under the budget of 32 MiB; counted, three
  // waiting while one decodes (or two and the bomb) pass it.
  constexpr std::size_t budget = 32u << 20;
  hub h({.port = 0, .limits = {.max_receive_bytes = budget}});
  reports heard(h);
  raw_peer flood;
  flood.connect(h.port());
  flood.expect_native_offer();
  std::string bytes = name_line("flood");
  bytes += std::string(raw_peer::native_offer) + "\n";
  bytes += R"({"type":"__native","data":{"switch":1}})" "\n";
  image bomb(2048, 2048, pixel_order::rgba);
  auto bomb_png = test::png_of(bomb);
  detail::native::append_png_image(bytes, bomb, as_bytes(bomb_png));
  std::mt19937 noise(7);
  image img(2000, 2000, pixel_order::bgr);
  for (std::size_t k = 0; k < img.size_bytes(); ++k)
    img.data()[k] = static_cast<std::uint8_t>(noise());
  auto png = test::png_of(img);
  ASSERT_GT(png.size(), budget / 3);
  ASSERT_LT(png.size() + bomb.size_bytes(), budget - (2u << 20));
  for (int i = 0; i < 4; ++i) detail::native::append_png_image(bytes, img, as_bytes(png));
  try {
    flood.send(bytes);
  } catch (const std::system_error&) {
    // Cut off before the last byte.
  }
  ASSERT_TRUE(heard.heard(errc::over_budget));
  auto from_flood = find_named(h, "flood");
  ASSERT_TRUE(from_flood);
  EXPECT_TRUE(eventually([&] { return !from_flood->is_open(); }));
  EXPECT_EQ(from_flood->close_reason(), errc::over_budget);
}

// --- heartbeats ------------------------------------------------------------

keepalive_options quick_beats() { return {.heartbeat_interval = 100ms, .heartbeat_misses = 3}; }

TEST(liveness, a_healthy_idle_native_link_carries_heartbeats_and_is_never_dropped) {
  hub a({.port = 0, .keepalive = quick_beats()});
  // b sends no pings of its own, so what keeps a's side alive is b's pongs.
  hub b({.listen = false, .keepalive = {.heartbeat_interval = 0ms}});
  auto out = b.connect("idle", "127.0.0.1", a.port());
  ASSERT_TRUE(out);
  auto in = a.wait_for_connection(patience);
  ASSERT_TRUE(in);
  test::round_trip(*out, *in);
  ASSERT_TRUE(out->is_native());
  auto before_in = in->stats().bytes_in, before_out = out->stats().bytes_in;
  // Ten heartbeat intervals with nothing to say: bytes still flow both ways
  // (pings and pongs), and neither side gives up on the other.
  EXPECT_FALSE(eventually([&] { return !in->is_open() || !out->is_open(); }, 1s));
  EXPECT_GT(in->stats().bytes_in, before_in);
  EXPECT_GT(out->stats().bytes_in, before_out);
  EXPECT_EQ(in->stats().errors, 0u);
  EXPECT_EQ(out->stats().errors, 0u);
}

TEST(liveness, a_large_frame_trickling_in_is_heard_and_keeps_its_link) {
  // The hub's I/O thread waits for a large frame's bytes in steps of a
  // quarter of a megabyte (SO_RCVLOWAT) rather than at every segment. Over
  // a slow link a step takes longer than the heartbeat deadline: the
  // checks must see the bytes that are there, or the peer, which answers
  // no pings, is taken for gone while its frame arrives.
  hub h({.port = 0, .limits = {.identify_timeout = 60s}, .keepalive = quick_beats()});
  reports heard(h);
  raw_peer p;
  p.connect(h.port());
  p.expect_native_offer();
  p.send(name_line("slow") + std::string(raw_peer::native_offer) + "\n" +
         R"({"type":"__native","data":{"switch":1}})" "\n");
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return c->is_native(); }));
  std::string frame;
  detail::native::append_json(frame, "x", value(std::string(400 * 1024, 'a')));
  // 8 KiB every 20 ms: 400 KB in about a second, each quarter megabyte
  // taking 640 ms where the deadline is 300 ms.
  try {
    for (std::size_t at = 0; at < frame.size(); at += 8 * 1024) {
      p.send(std::string_view(frame).substr(at, 8 * 1024));
      std::this_thread::sleep_for(20ms); // pacing the sender, not waiting for the engine
    }
  } catch (const std::system_error& e) {
    eventually([&] { return !c->is_open(); });
    FAIL() << "the hub closed the link while the frame arrived (" << e.what()
           << "); its reason: " << c->close_reason().message();
  }
  auto x = c->wait_for("x", patience);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->get<std::string>().size(), 400u * 1024);
  EXPECT_TRUE(c->is_open());
  EXPECT_EQ(heard.count(errc::peer_unresponsive), 0u);
}

// A hub in a process of its own, to be stopped.
class stoppable {
public:
  explicit stoppable(std::vector<std::string> args) : child_(with_program(std::move(args))) {}

  /// Reads the child's output until it holds `word`, then returns the rest
  /// of that line.
  std::string expect(std::string_view word) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      if (auto at = out_.find(word); at != std::string::npos) {
        auto end = out_.find('\n', at);
        if (end != std::string::npos) return out_.substr(at + word.size(), end - at - word.size());
      }
      if (child_.read_some(out_, deadline) != test::child_process::read_result::data)
        throw std::runtime_error("the peer said: " + out_);
    }
  }
  void stop() { child_.signal(SIGSTOP); }

private:
  static std::vector<std::string> with_program(std::vector<std::string> args) {
    args.insert(args.begin(), SOCKETENGINE_LIVENESS_PEER);
    return args;
  }
  test::child_process child_;
  std::string out_;
};

TEST(liveness, a_hub_drops_a_stopped_peer_within_the_heartbeat_deadline) {
  hub h({.port = 0, .keepalive = quick_beats()});
  reports heard(h);
  stoppable peer({"dial", std::to_string(h.port())});
  peer.expect("connected");
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return c->is_native(); }));
  auto stopped = std::chrono::steady_clock::now();
  peer.stop();
  EXPECT_TRUE(eventually([&] { return !c->is_open(); }));
  auto took = std::chrono::steady_clock::now() - stopped;
  std::printf("a stopped peer dropped after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  EXPECT_EQ(c->close_reason(), errc::peer_unresponsive);
  EXPECT_TRUE(heard.heard(errc::peer_unresponsive));
  // Three intervals of 100 ms, checked every 25 ms, with room for a slow
  // machine; but far from the minutes TCP alone would take.
  EXPECT_LT(took, 3s);
}

TEST(liveness, a_dialler_notices_a_stopped_hub) {
  stoppable peer({"listen"});
  auto port = static_cast<std::uint16_t>(std::stoi(peer.expect("port ")));
  hub h({.listen = false, .keepalive = quick_beats(), .reconnect = {.enabled = false}});
  auto c = h.connect("watcher", "127.0.0.1", port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return c->is_native(); }));
  peer.stop();
  EXPECT_TRUE(eventually([&] { return !c->is_open(); }));
  EXPECT_EQ(c->close_reason(), errc::peer_unresponsive);
}

TEST(liveness, a_redialling_dialler_notices_a_stopped_hub_and_says_so) {
  stoppable peer({"listen"});
  auto port = static_cast<std::uint16_t>(std::stoi(peer.expect("port ")));
  std::atomic<bool> unresponsive{false}; // before the hub, whose handlers set them
  std::atomic<int> downs{0};
  hub h({.listen = false, .keepalive = quick_beats()});
  h.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    if (ec == errc::peer_unresponsive) unresponsive = true;
  });
  h.on_link_down([&](const std::shared_ptr<connection>&) { ++downs; });
  auto c = h.connect("watcher", "127.0.0.1", port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return c->is_native(); }));
  peer.stop();
  // The stopped process's system still accepts the redials, so the link
  // may come and go; each time it is found dead again.
  EXPECT_TRUE(eventually([&] { return unresponsive && downs > 0; }));
  EXPECT_TRUE(c->is_open()); // redialling, not closed
  EXPECT_NE(c->state(), link_state::closed);
}

// --- TCP keepalive ----------------------------------------------------------

// The options of this process's TCP socket whose peer is at `port`: the
// engine's side of a connection, found among our descriptors.
struct tcp_settings {
  int keepalive = -1, idle = -1, interval = -1, count = -1, user_timeout = -1;
  bool operator==(const tcp_settings&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const tcp_settings& t) {
    return os << "keepalive " << t.keepalive << ", idle " << t.idle << " s, interval "
              << t.interval << " s, count " << t.count << ", user timeout " << t.user_timeout
              << " ms";
  }
};
std::optional<tcp_settings> settings_of_socket_to(std::uint16_t port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (peer.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port) != port) continue;
    tcp_settings s;
    auto get = [fd](int level, int name, int& out) {
      socklen_t l = sizeof out;
      ::getsockopt(fd, level, name, &out, &l);
    };
    get(SOL_SOCKET, SO_KEEPALIVE, s.keepalive);
    get(IPPROTO_TCP, TCP_KEEPIDLE, s.idle);
    get(IPPROTO_TCP, TCP_KEEPINTVL, s.interval);
    get(IPPROTO_TCP, TCP_KEEPCNT, s.count);
    get(IPPROTO_TCP, TCP_USER_TIMEOUT, s.user_timeout);
    return s;
  }
  return std::nullopt;
}

TEST(liveness, tcp_connections_get_the_keepalive_and_user_timeout_asked_for) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  hub dialler({.listen = false,
               .keepalive = {.tcp_keepalive_idle = 7s,
                             .tcp_keepalive_interval = 2s,
                             .tcp_keepalive_count = 4,
                             .tcp_user_timeout = 12345ms}});
  raw_peer accepted;
  std::thread accept([&] { accepted.accept(acceptor); });
  auto c = dialler.connect("k", "127.0.0.1", port);
  accept.join();
  ASSERT_TRUE(c);
  auto s = settings_of_socket_to(port);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (tcp_settings{1, 7, 2, 4, 12345}));

  // And an accepted connection.
  hub listener({.port = 0,
                .bind_address = "127.0.0.1",
                .keepalive = {.tcp_keepalive_idle = 9s,
                              .tcp_keepalive_interval = 3s,
                              .tcp_keepalive_count = 5,
                              .tcp_user_timeout = 4321ms}});
  raw_peer in;
  in.connect(listener.port());
  ASSERT_TRUE(listener.wait_for_connection(patience));
  auto local = in.socket().local_endpoint().port();
  auto accepted_side = settings_of_socket_to(local);
  ASSERT_TRUE(accepted_side);
  EXPECT_EQ(*accepted_side, (tcp_settings{1, 9, 3, 5, 4321}));
}

} // namespace
} // namespace socketengine
