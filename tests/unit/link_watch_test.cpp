// The clock side of a connection, on a clock the test moves: a partial
// message must keep to the minimum rate, a new message restarts the count,
// anonymous peers have a deadline, a silent native peer is pinged once per
// interval and declared dead after its misses, and a talking one never is.

#include "connection/link_watch.hpp"

#include <gtest/gtest.h>

namespace socketengine::detail {
namespace {

using namespace std::chrono_literals;
using verdict = link_watch::verdict;
using reading = link_watch::reading;

const auto t0 = link_watch::clock::time_point{} + 1000s;

watch_settings rate_only() {
  watch_settings s;
  s.min_receive_rate = 1000; // bytes per second
  s.receive_grace = 1s;
  return s;
}

TEST(link_watch, a_partial_message_gets_its_grace_plus_its_bytes_at_the_minimum_rate) {
  auto s = rate_only();
  link_watch w(t0);
  // 2,000 bytes held of a message begun at t0: 1 s + 2 s allowed.
  EXPECT_EQ(w.check(s, t0, {.bytes_in = 2000, .pending = 2000}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 2900ms, {.bytes_in = 2000, .pending = 2000}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 3100ms, {.bytes_in = 2000, .pending = 2000}), verdict::too_slow);
  EXPECT_NE(w.explain(s, verdict::too_slow).find("2000 bytes"), std::string::npos)
      << w.explain(s, verdict::too_slow);
}

TEST(link_watch, a_message_that_keeps_coming_at_the_rate_is_never_too_slow) {
  auto s = rate_only();
  link_watch w(t0);
  for (int i = 0; i <= 100; ++i) { // 1,000 bytes a second for 100 s, of one message
    auto bytes = static_cast<std::uint64_t>(1000 * (i + 1));
    EXPECT_EQ(w.check(s, t0 + i * 1s, {.bytes_in = bytes, .pending = bytes}), verdict::fine)
        << "at " << i << " s";
  }
}

TEST(link_watch, each_new_message_restarts_the_count) {
  auto s = rate_only();
  link_watch w(t0);
  // Messages straddle every look, but each started after the one before:
  // where the partial one starts (bytes read minus bytes held) moves on.
  for (int i = 0; i < 100; ++i) {
    auto bytes = static_cast<std::uint64_t>(10 * (i + 1));
    EXPECT_EQ(w.check(s, t0 + i * 800ms, {.bytes_in = bytes, .pending = 5}), verdict::fine);
  }
}

TEST(link_watch, nothing_held_is_never_too_slow_and_a_rate_of_zero_is_no_deadline) {
  auto s = rate_only();
  link_watch w(t0);
  EXPECT_EQ(w.check(s, t0, {.bytes_in = 10, .pending = 0}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 1h, {.bytes_in = 10, .pending = 0}), verdict::fine);
  s.min_receive_rate = 0;
  link_watch off(t0);
  EXPECT_EQ(off.check(s, t0, {.bytes_in = 10, .pending = 10}), verdict::fine);
  EXPECT_EQ(off.check(s, t0 + 1h, {.bytes_in = 10, .pending = 10}), verdict::fine);
}

TEST(link_watch, an_anonymous_peer_has_until_the_identify_timeout) {
  watch_settings s;
  s.identify_timeout = 2s;
  link_watch w(t0);
  EXPECT_EQ(w.check(s, t0 + 1900ms, {.identified = false}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 2100ms, {.identified = false}), verdict::unidentified);
  link_watch named(t0);
  EXPECT_EQ(named.check(s, t0 + 1h, {.identified = true}), verdict::fine);
  s.identify_timeout = 0ms;
  link_watch no_deadline(t0);
  EXPECT_EQ(no_deadline.check(s, t0 + 1h, {.identified = false}), verdict::fine);
}

watch_settings beats() {
  watch_settings s;
  s.heartbeat_interval = 1s;
  s.heartbeat_misses = 3;
  return s;
}

TEST(link_watch, a_silent_peer_is_pinged_once_an_interval_then_declared_dead) {
  auto s = beats();
  link_watch w(t0);
  reading quiet{.bytes_in = 100, .heartbeats = true};
  EXPECT_EQ(w.check(s, t0, quiet), verdict::fine); // heard 100 bytes now
  EXPECT_EQ(w.check(s, t0 + 500ms, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 1000ms, quiet), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 1250ms, quiet), verdict::fine); // pinged already
  EXPECT_EQ(w.check(s, t0 + 2000ms, quiet), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 2900ms, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 3000ms, quiet), verdict::unresponsive);
  EXPECT_NE(w.explain(s, verdict::unresponsive).find("3000 ms"), std::string::npos)
      << w.explain(s, verdict::unresponsive);
}

TEST(link_watch, a_peer_is_declared_dead_only_after_a_ping_had_an_interval_to_be_answered) {
  auto s = beats();
  s.heartbeat_misses = 1;
  link_watch w(t0);
  reading quiet{.bytes_in = 100, .heartbeats = true};
  EXPECT_EQ(w.check(s, t0, quiet), verdict::fine);
  // Silent for the whole interval at the first look: asked first, not
  // dropped, and given an interval to answer.
  EXPECT_EQ(w.check(s, t0 + 1500ms, quiet), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 1600ms, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 2500ms, quiet), verdict::unresponsive);
}

TEST(link_watch, a_check_held_up_past_the_deadline_asks_before_it_blames) {
  // This side's thread stalled (a large free under a sanitizer): the first
  // check after it finds the peer silent for longer than all its misses.
  auto s = beats();
  link_watch w(t0);
  reading quiet{.bytes_in = 100, .heartbeats = true};
  EXPECT_EQ(w.check(s, t0, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 2900ms, quiet), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 3100ms, quiet), verdict::fine);
  quiet.bytes_in += 9; // the answer
  EXPECT_EQ(w.check(s, t0 + 3500ms, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 9000ms, quiet), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 9900ms, quiet), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 10000ms, quiet), verdict::unresponsive);
}

TEST(link_watch, any_byte_from_the_peer_keeps_the_link_alive) {
  auto s = beats();
  link_watch w(t0);
  for (int i = 0; i < 100; ++i) { // a pong, or anything, every 900 ms
    auto v = w.check(s, t0 + i * 900ms,
                     {.bytes_in = static_cast<std::uint64_t>(i * 5), .heartbeats = true});
    EXPECT_EQ(v, verdict::fine) << "at " << i;
  }
}

TEST(link_watch, a_peer_without_heartbeats_or_with_them_off_is_never_pinged) {
  auto s = beats();
  link_watch legacy(t0);
  EXPECT_EQ(legacy.check(s, t0 + 1h, {.heartbeats = false}), verdict::fine);
  s.heartbeat_interval = 0ms;
  link_watch off(t0);
  EXPECT_EQ(off.check(s, t0 + 1h, {.heartbeats = true}), verdict::fine);
}

TEST(link_watch, a_queue_full_past_the_slow_peer_timeout_cuts_the_peer_off) {
  watch_settings s;
  s.slow_peer_timeout = 2s;
  link_watch w(t0);
  EXPECT_EQ(w.check(s, t0 + 10s, {.full_since = std::nullopt}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 10s, {.full_since = t0 + 8500ms}), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 10s, {.full_since = t0 + 7500ms}), verdict::slow_consumer);
  EXPECT_NE(w.explain(s, verdict::slow_consumer).find("2500 ms"), std::string::npos)
      << w.explain(s, verdict::slow_consumer);
  s.slow_peer_timeout = 0ms; // another policy: a full queue is no reason to close
  EXPECT_EQ(w.check(s, t0 + 1h, {.full_since = t0}), verdict::fine);
}

TEST(link_watch, a_link_waiting_for_this_sides_work_is_not_blamed_for_its_silence) {
  auto s = rate_only();
  s.heartbeat_interval = 1s;
  s.heartbeat_misses = 2;
  link_watch w(t0);
  // Reading waits for a large message to be decoded: nothing is read, a
  // message that followed it is held unfinished, and no answer to a ping
  // can be read. None of it is the peer's doing.
  s.identify_timeout = 10s;
  reading waiting{.bytes_in = 5000,
                  .pending = 100,
                  .identified = false, // its name may be in what waits
                  .waiting = true,
                  .heartbeats = true};
  // Meanwhile this side pings the peer once an interval, since it cannot
  // answer the peer's pings: the peer hears from it. Not at once: a wait
  // shorter than an interval sends nothing.
  int pings = 0;
  for (auto at = t0; at <= t0 + 30s; at += 250ms) {
    auto v = w.check(s, at, waiting);
    EXPECT_TRUE(v == verdict::fine || v == verdict::ping) << static_cast<int>(v);
    EXPECT_TRUE(v == verdict::fine || at >= t0 + 1s) << "a ping before the wait lasted an interval";
    pings += v == verdict::ping;
  }
  EXPECT_EQ(pings, 30); // at 1 s, 2 s, ... 30 s
  // Once reading goes on, the clocks start from there.
  auto read_on = waiting;
  read_on.waiting = false;
  read_on.identified = true;
  EXPECT_EQ(w.check(s, t0 + 30s + 500ms, read_on), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 31s, read_on), verdict::ping);
  EXPECT_EQ(w.check(s, t0 + 32s, read_on), verdict::too_slow); // 1 s + 100 bytes at 1000/s
}

TEST(link_watch, a_backlog_going_out_counts_as_hearing_from_the_peer_until_it_stalls) {
  // A large write under way: the peer takes it and says nothing, and the
  // pings of this side wait behind it.
  auto s = beats();
  link_watch w(t0);
  reading sending{.bytes_in = 100, .heartbeats = true, .bytes_out = 0, .writing = true};
  for (int i = 0; i <= 40; ++i) {
    sending.bytes_out += 1 << 20;
    EXPECT_EQ(w.check(s, t0 + i * 250ms, sending), verdict::fine) << "at " << i;
  }
  // The backlog stalls (a stopped peer's buffers are full): silence counts.
  auto stalled = t0 + 10s;
  EXPECT_EQ(w.check(s, stalled + 1s, sending), verdict::ping);
  EXPECT_EQ(w.check(s, stalled + 2s, sending), verdict::ping);
  EXPECT_EQ(w.check(s, stalled + 3s, sending), verdict::unresponsive);
}

TEST(link_watch, bytes_written_with_nothing_else_queued_do_not_count) {
  // This side's own pings move bytes_out: they must not keep a dead peer
  // alive.
  auto s = beats();
  link_watch w(t0);
  reading pinging{.bytes_in = 100, .heartbeats = true, .bytes_out = 0, .writing = false};
  EXPECT_EQ(w.check(s, t0, pinging), verdict::fine);
  EXPECT_EQ(w.check(s, t0 + 1s, pinging), verdict::ping);
  pinging.bytes_out += 9;
  EXPECT_EQ(w.check(s, t0 + 2s, pinging), verdict::ping);
  pinging.bytes_out += 9;
  EXPECT_EQ(w.check(s, t0 + 3s, pinging), verdict::unresponsive);
}

TEST(link_watch, the_tick_is_a_quarter_of_the_shortest_deadline_within_bounds) {
  watch_settings s;
  EXPECT_EQ(s.tick(), 1000ms); // nothing to watch: once a second
  s.heartbeat_interval = 1000ms;
  EXPECT_EQ(s.tick(), 250ms);
  s.identify_timeout = 200ms;
  EXPECT_EQ(s.tick(), 50ms);
  s.receive_grace = 1ms; // but the rate is 0: no deadline
  EXPECT_EQ(s.tick(), 50ms);
  s.min_receive_rate = 1;
  EXPECT_EQ(s.tick(), 10ms); // never busier than this
}

} // namespace
} // namespace socketengine::detail
