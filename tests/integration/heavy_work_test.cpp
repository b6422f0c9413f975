// Work in proportion to what a peer sends, done off the I/O thread: an
// image bomb being decoded, or a line or frame of tens of megabytes being
// received and parsed, does not hold up another peer's round trips, nor
// cost a native link its heartbeats. The round-trip tests print what they
// measured beside a baseline.
//
// These tests run alone (SERIAL in CMakeLists.txt): on two cores, other
// tests' load would skew the figures, and slow the engine's work thread.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "protocol/legacy/line_codec.hpp"
#include "protocol/native/frame_codec.hpp"
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

// How long the tests wait for the heavy work itself: the parse of 32 MiB
// takes a few seconds under the sanitizers.
constexpr std::chrono::milliseconds work_patience = 40s;

// The nice values of this process's threads named `name`.
std::vector<int> nice_of_threads_named(const std::string& name) {
  std::vector<int> nice;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm != name) continue;
    // /proc/PID/task/TID/stat: the command in parentheses, then fields 3
    // on; the nice value is field 19.
    std::string stat;
    std::getline(std::ifstream(task.path() / "stat"), stat);
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i < 19; ++i) rest >> field;
    int value = 0;
    if (rest >> value) nice.push_back(value);
  }
  return nice;
}

TEST(heavy_work, each_engine_names_its_threads_and_its_work_thread_yields_as_asked) {
  // Each thread names itself (and the work thread sets its priority) once
  // it runs, which may be after the engine's constructor has returned.
  auto become = [](const std::string& name, std::vector<int> nice) {
    return eventually([&] { return nice_of_threads_named(name) == nice; });
  };
  int base = ::getpriority(PRIO_PROCESS, 0);
  {
    hub h({.listen = false, .work_thread_nice = 7});
    EXPECT_TRUE(become("se-hub-work", {std::min(base + 7, 19)}));
    EXPECT_TRUE(become("se-hub-io", {base}));
    EXPECT_TRUE(become("se-hub-cb", {base}));
  }
  // By default it is as the others (a raised nice value starves decodes on
  // a busy machine); hosts and clients name theirs the same way.
  host server({.port = 0});
  client c({.port = server.port()});
  EXPECT_TRUE(become("se-host-work", {base}));
  EXPECT_TRUE(become("se-client-work", {base}));
  EXPECT_TRUE(become("se-client-io", {base}));
  EXPECT_TRUE(become("se-hub-work", {}));
}

TEST(heavy_work, image_bombs_from_one_peer_do_not_delay_another_peers_messages) {
  // A flat 4096x4096 RGBA image: a PNG of some 70 KB that inflates to
  // 64 MiB, the largest image_options::max_pixels allows. Made once, as the
  // image line a legacy hub sends.
  std::string line;
  detail::legacy::append_image_line(line, "__image", image(4096, 4096, pixel_order::rgba), 9);
  hub centre({.port = 0});
  hub good({.listen = false});
  auto mine = good.connect("good", "127.0.0.1", centre.port());
  ASSERT_TRUE(mine);
  raw_peer bomber;
  bomber.connect(centre.port());
  bomber.send(name_line("bomber"));
  std::shared_ptr<connection> from_bomber, theirs;
  ASSERT_TRUE(eventually([&] {
    from_bomber = find_named(centre, "bomber");
    theirs = find_named(centre, "good");
    return from_bomber && theirs;
  }));
  test::round_trip(*mine, *theirs);
  auto baseline = baseline_round_trips(*mine, *theirs);

  // One bomb, and round trips from the good peer until it has been decoded.
  // Decoded on the I/O thread, it would hold up every round trip behind it:
  // one or two would complete meanwhile. Off the I/O thread they go on.
  auto version = from_bomber->image_version();
  auto start = std::chrono::steady_clock::now();
  bomber.send(line);
  auto rtts = round_trips_until(
      *mine, *theirs, [&] { return from_bomber->image_version() != version; }, work_patience);
  ASSERT_NE(from_bomber->image_version(), version);
  auto decoded_after =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("a bomb decoded in %.0f ms; meanwhile %s (baseline: %s)\n", decoded_after,
              describe(rtts).c_str(), describe(baseline).c_str());
  EXPECT_GE(rtts.size(), 10u);
  EXPECT_TRUE(from_bomber->is_open());
}

// A huge value from one peer, as a line or as a native frame: parsing it
// takes time in proportion to its size (a few hundred milliseconds in a
// debug build), which must not hold up another peer's round trips.
class huge_messages : public ::testing::TestWithParam<bool> {};

TEST_P(huge_messages, from_one_peer_do_not_delay_another_peers_messages) {
  bool native = GetParam();
  hub centre({.port = 0});
  hub good({.listen = false});
  auto mine = good.connect("good", "127.0.0.1", centre.port());
  ASSERT_TRUE(mine);
  raw_peer flooder;
  flooder.connect(centre.port());
  flooder.expect_native_offer();
  std::string bytes = name_line("flooder");
  value huge(std::string(std::size_t{32} << 20, 'x'));
  if (native) {
    bytes += std::string(raw_peer::native_offer) + "\n";
    bytes += R"({"type":"__native","data":{"switch":1}})" "\n";
    detail::native::append_json(bytes, "huge", huge);
  } else {
    detail::legacy::append_line(bytes, "huge", huge);
  }
  std::shared_ptr<connection> from_flooder, theirs;
  ASSERT_TRUE(eventually([&] {
    theirs = find_named(centre, "good");
    return theirs != nullptr;
  }));
  test::round_trip(*mine, *theirs);
  auto baseline = baseline_round_trips(*mine, *theirs);

  // All of it but its last byte, read by the hub, with round trips from
  // the good peer meanwhile (a figure). Sent at about a gigabit link's
  // rate, 1 MiB every 8 ms: a sender in this process at memory speed
  // would take a core of the two from the hub.
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    constexpr std::size_t chunk = 1u << 20;
    auto next = std::chrono::steady_clock::now();
    for (std::size_t at = 0; at < bytes.size() - 1; at += chunk) {
      flooder.send(std::string_view(bytes).substr(at, std::min(chunk, bytes.size() - 1 - at)));
      next += 8ms;
      std::this_thread::sleep_until(next);
    }
    sent = true;
  });
  auto reading = round_trips_until(*mine, *theirs, [&] { return sent.load(); }, work_patience);
  sender.join();
  ASSERT_TRUE(eventually([&] {
    from_flooder = find_named(centre, "flooder");
    return from_flooder && from_flooder->stats().bytes_in == bytes.size() - 1;
  }, work_patience));
  std::printf("32 MiB %s read; meanwhile %s\n", native ? "frame" : "line",
              describe(reading).c_str());

  // Then the last byte, and round trips from the good peer until the
  // value has been parsed and stored. Parsed on the I/O thread, it would
  // hold up the round trip in progress until done: one would complete
  // meanwhile.
  auto version = from_flooder->version("huge");
  auto start = std::chrono::steady_clock::now();
  flooder.send(std::string_view(bytes).substr(bytes.size() - 1));
  auto rtts = round_trips_until(
      *mine, *theirs, [&] { return from_flooder->version("huge") != version; }, work_patience);
  ASSERT_NE(from_flooder->version("huge"), version);
  auto parsed_after =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("32 MiB %s parsed in %.0f ms; meanwhile %s (baseline: %s)\n",
              native ? "frame" : "line", parsed_after, describe(rtts).c_str(),
              describe(baseline).c_str());
  EXPECT_GE(rtts.size(), 10u);
  EXPECT_EQ(from_flooder->get("huge"), huge);
  EXPECT_EQ(from_flooder->is_native(), native);
}

INSTANTIATE_TEST_SUITE_P(heavy_work, huge_messages, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "native" : "legacy"; });

TEST(heavy_work, a_native_link_stays_up_while_huge_messages_outlast_the_heartbeat_deadline) {
  // A 32 MiB value takes the sender a while to write, with its pings
  // queued behind it, and the receiver hundreds of milliseconds to parse,
  // reading nothing meanwhile, so the sender's pings go unanswered: both
  // outlast a deadline of 3 x 50 ms. A backlog the peer is taking counts as
  // hearing from it, and the busy side pings the other meanwhile.
  const keepalive_options beats{.heartbeat_interval = 50ms, .heartbeat_misses = 3};
  hub centre({.port = 0, .keepalive = beats});
  hub sender({.listen = false, .keepalive = beats, .reconnect = {.enabled = false}});
  reports sender_heard(sender);
  auto out = sender.connect("sender", "127.0.0.1", centre.port());
  ASSERT_TRUE(out);
  auto in = centre.wait_for_connection(patience);
  ASSERT_TRUE(in);
  test::round_trip(*out, *in);
  ASSERT_TRUE(eventually([&] { return out->is_native() && in->is_native(); }));
  const value huge(std::string(std::size_t{32} << 20, 'x'));
  for (int i = 0; i < 3; ++i) {
    out->write("huge", huge);
    out->write("after", i);
    ASSERT_EQ(in->wait_for_next("after", patience, in->version("after")).value_or(-1), value(i))
        << "round " << i << ": " << out->close_reason().message();
  }
  EXPECT_EQ(in->get("huge"), huge);
  EXPECT_TRUE(out->is_open()) << out->close_reason().message();
  EXPECT_TRUE(in->is_open()) << in->close_reason().message();
  EXPECT_FALSE(sender_heard.heard(errc::peer_unresponsive, 0ms));
}

} // namespace
} // namespace socketengine
