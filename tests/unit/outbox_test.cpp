// What a connection sends, without a socket: direct writes to an idle
// stream, queueing behind a write under way, the queue's bound and its
// policies, the switch of protocol (and writers that encode again), image
// flow, acknowledgements and the close states. A recording stream and user
// stand in for the transport and the connection.

#include "connection/outbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <socketengine/error.hpp>

#include "protocol/native/frame_codec.hpp"
#include "protocol/suite.hpp"
#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace socketengine::detail {
namespace {

using namespace std::chrono_literals;

// A stream that takes what try_write offers, up to `room` bytes.
class recording_stream final : public transport::stream {
public:
  recording_stream() : stream({"test", 0}) {}
  std::size_t read_some(std::span<char>, std::error_code& ec) override {
    ec = std::make_error_code(std::errc::operation_would_block);
    return 0;
  }
  void async_wait_readable(std::shared_ptr<transport::stream_user>) override {}
  void async_write(std::vector<asio::const_buffer>, std::shared_ptr<transport::stream_user>) override {}
  std::size_t try_write(std::string_view bytes) noexcept override {
    auto n = std::min(bytes.size(), room);
    direct.append(bytes.substr(0, n));
    room -= n;
    return n;
  }
  void shutdown_send() noexcept override {}
  void close() noexcept override {}

  [[nodiscard]] std::size_t try_write_limit() const noexcept override { return limit; }

  std::string direct;
  std::size_t room = 1 << 20;
  std::size_t limit = static_cast<std::size_t>(-1);
};

class recording_user final : public outbox_user {
public:
  void schedule_write() override { ++scheduled; }
  [[nodiscard]] bool on_io_thread() const noexcept override { return false; }
  [[nodiscard]] std::chrono::milliseconds write_timeout() const noexcept override { return timeout; }
  void conflating(std::size_t) override { ++conflation_reports; }
  std::atomic<int> scheduled{0};
  std::atomic<int> conflation_reports{0};
  std::chrono::milliseconds timeout = 50ms;
};

// Everything the I/O thread would write next, as one string; marks it written.
std::string drain(outbox& o) {
  auto w = o.take();
  std::string out;
  std::size_t n = 0;
  for (const auto& b : w.buffers) {
    out.append(static_cast<const char*>(b.data()), b.size());
    n += b.size();
  }
  if (n > 0) o.written(n);
  return out;
}

struct fixture {
  explicit fixture(protocol::settings s = hub_settings())
      : protocols(s), box(user, stream, protocols.first_writer(), s.limits) {}
  static protocol::settings hub_settings() {
    protocol::settings s;
    s.hub = true;
    return s;
  }
  // Writes `v` on `channel` as connection::write does.
  void write(std::string_view channel, const value& v, std::error_code& ec) {
    box.write(
        channel,
        [&](std::string& out, const protocol::writer& w) { w.append_value(out, channel, v); }, ec);
  }
  protocol::suite protocols;
  recording_stream stream;
  recording_user user;
  outbox box;
};

TEST(outbox, a_message_to_an_idle_stream_goes_straight_to_it) {
  fixture f;
  std::error_code ec;
  f.write("x", 1, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(f.stream.direct, "{\"type\":\"x\",\"data\":1}\n");
  EXPECT_EQ(f.user.scheduled.load(), 0); // the I/O thread was not woken
  EXPECT_EQ(f.box.messages_out(), 1u);
  EXPECT_EQ(f.box.bytes_out(), f.stream.direct.size());
}

TEST(outbox, what_the_stream_does_not_take_is_queued_for_the_io_thread) {
  fixture f;
  f.stream.room = 5;
  std::error_code ec;
  f.write("x", 1, ec);
  EXPECT_EQ(f.stream.direct, "{\"typ");
  EXPECT_EQ(f.user.scheduled.load(), 1);
  EXPECT_EQ(drain(f.box), "e\":\"x\",\"data\":1}\n");
}

TEST(outbox, messages_behind_a_write_under_way_are_queued_and_coalesced) {
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  for (int i = 0; i < 3; ++i) f.write("n", i, ec);
  EXPECT_EQ(f.user.scheduled.load(), 1); // one write picks them all up
  auto w = f.box.take();
  ASSERT_EQ(w.buffers.size(), 1u);
  EXPECT_EQ(std::string(static_cast<const char*>(w.buffers[0].data()), w.buffers[0].size()),
            "{\"type\":\"n\",\"data\":0}\n{\"type\":\"n\",\"data\":1}\n{\"type\":\"n\",\"data\":2}\n");
  f.write("n", 3, ec); // during the write: queued, not sent directly
  EXPECT_TRUE(f.stream.direct.empty());
}

TEST(outbox, a_full_queue_fails_or_blocks_as_the_policy_says) {
  for (auto policy : {overflow_policy::fail, overflow_policy::block}) {
    auto s = fixture::hub_settings();
    s.limits.max_write_queue_bytes = 64;
    s.limits.on_full_queue = policy;
    fixture f(s);
    f.stream.room = 0;
    std::error_code ec;
    f.write("big", std::string(100, 'x'), ec); // alone: accepted past the bound
    ASSERT_FALSE(ec);
    auto start = std::chrono::steady_clock::now();
    f.write("more", 1, ec);
    EXPECT_EQ(ec, errc::queue_full);
    auto waited = std::chrono::steady_clock::now() - start;
    if (policy == overflow_policy::block) {
      EXPECT_GE(waited, 50ms); // the write timeout
    }
    drain(f.box); // room again
    f.write("more", 1, ec);
    EXPECT_FALSE(ec);
  }
}

TEST(outbox, a_full_queue_conflates_to_the_latest_value_per_channel_by_default) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  ASSERT_EQ(s.limits.on_full_queue, overflow_policy::conflate);
  fixture f(s);
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(100, 'x'), ec); // fills the queue
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 100; ++i) {
    f.write("a", i, ec); // held: never waits, never fails
    ASSERT_FALSE(ec);
    f.write("b", -i, ec);
    ASSERT_FALSE(ec);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 50ms * 10); // not one write timeout each
  EXPECT_EQ(f.user.conflation_reports.load(), 1); // once, when it began
  EXPECT_EQ(f.box.conflated(), 198u);             // 99 older values on each channel
  EXPECT_TRUE(f.box.full_since());
  // The queue drains; then the latest of each channel goes, in the order
  // their channels were first held.
  EXPECT_EQ(drain(f.box), "{\"type\":\"big\",\"data\":\"" + std::string(100, 'x') + "\"}\n");
  EXPECT_EQ(drain(f.box), "{\"type\":\"a\",\"data\":100}\n{\"type\":\"b\",\"data\":-100}\n");
  EXPECT_FALSE(f.box.full_since());
  // Caught up: writes queue as usual, and a new episode is reported anew.
  f.write("c", 1, ec);
  EXPECT_EQ(drain(f.box), "{\"type\":\"c\",\"data\":1}\n");
  f.write("big", std::string(100, 'x'), ec);
  f.write("a", 1, ec);
  EXPECT_EQ(f.user.conflation_reports.load(), 2);
}

TEST(outbox, while_values_are_held_a_new_one_on_their_channel_never_overtakes_them) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  fixture f(s);
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(40, 'x'), ec);
  f.write("a", 1, ec); // 40 + 20 bytes: still room, queued
  f.write("a", 2, ec); // full: held
  // Part of the queue drains, leaving room, but "a" = 2 is still held: a
  // newer "a" must join it, not pass it in the queue.
  auto w = f.box.take();
  f.box.written(10);
  f.write("a", 3, ec);
  f.box.written(0);
  std::string rest;
  for (int i = 0; i < 3; ++i) rest += drain(f.box);
  EXPECT_EQ(rest.find("\"data\":2"), std::string::npos); // replaced, never sent
  EXPECT_TRUE(rest.ends_with("{\"type\":\"a\",\"data\":3}\n")) << rest;
}

TEST(outbox, under_disconnect_a_full_queue_fails_and_says_since_when) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  s.limits.on_full_queue = overflow_policy::disconnect;
  fixture f(s);
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(100, 'x'), ec);
  EXPECT_FALSE(f.box.full_since()); // one message past the bound is not full
  auto before = std::chrono::steady_clock::now();
  f.write("more", 1, ec);
  EXPECT_EQ(ec, errc::queue_full);
  ASSERT_TRUE(f.box.full_since());
  EXPECT_GE(*f.box.full_since(), before);
  drain(f.box);
  drain(f.box);
  EXPECT_FALSE(f.box.full_since()); // drained: no longer behind
}

TEST(outbox, a_blocked_writer_goes_on_once_the_queue_drains) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  s.limits.on_full_queue = overflow_policy::block;
  fixture f(s);
  f.user.timeout = 10s;
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(100, 'x'), ec);
  std::error_code blocked_ec = errc::not_connected;
  std::thread writer([&] { f.write("more", 1, blocked_ec); });
  // Not a wait for the network: the writer is to be blocked on the full
  // queue when the write drains it (a lost wake-up then shows as a
  // queue_full after 10 s).
  std::this_thread::sleep_for(20ms);
  auto w = f.box.take(); // the I/O thread takes the queue and writes it
  std::size_t n = 0;
  for (const auto& b : w.buffers) n += b.size();
  f.box.written(n);
  writer.join();
  EXPECT_FALSE(blocked_ec);
}

TEST(outbox, after_the_switch_writers_write_frames_and_the_switch_line_comes_first) {
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  f.write("before", 1, ec);
  std::string line;
  const auto* next = f.protocols.upgrade(line);
  ASSERT_TRUE(next);
  f.box.switch_to(*next, line);
  EXPECT_EQ(&f.box.writer(), next);
  f.write("after", 2, ec);
  std::string expected = "{\"type\":\"before\",\"data\":1}\n" + line;
  native::append_value(expected, "after", value(2));
  EXPECT_EQ(drain(f.box), expected);
}

TEST(outbox, a_writer_that_encoded_for_the_old_protocol_encodes_again) {
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  int encodings = 0;
  f.box.write(
      "c",
      [&](std::string& out, const protocol::writer& w) {
        if (++encodings == 1) {
          // The switch happens between this encoding and the queueing.
          std::string line;
          f.box.switch_to(*f.protocols.upgrade(line), line);
        }
        w.append_value(out, "c", value(1));
      },
      ec);
  EXPECT_EQ(encodings, 2);
  auto sent = drain(f.box);
  std::string frame;
  native::append_value(frame, "c", value(1));
  EXPECT_EQ(sent.substr(sent.size() - frame.size()), frame); // once, and as a frame
  EXPECT_EQ(sent.find("\"c\""), std::string::npos);
}

TEST(outbox, owed_acknowledgements_go_with_the_next_write_as_one_message) {
  fixture f;
  f.box.owe_ack();
  f.box.owe_ack();
  EXPECT_EQ(drain(f.box), "{\"type\":\"__ack\",\"data\":\"__ack\"}\n");
  EXPECT_EQ(drain(f.box), "");
  std::string line;
  f.box.switch_to(*f.protocols.upgrade(line), line);
  drain(f.box);
  f.box.owe_ack();
  f.box.owe_ack();
  f.box.owe_ack();
  std::string ack;
  native::append_ack(ack, 3);
  EXPECT_EQ(drain(f.box), ack);
}

TEST(outbox, one_image_in_flight_to_a_legacy_hub_and_the_latest_waits) {
  fixture f;
  f.stream.room = 0; // a full socket: frames wait for the I/O thread
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(4, 4, pixel_order::gray, 1);
  auto b = test::pattern_image(4, 4, pixel_order::gray, 2);
  auto c = test::pattern_image(4, 4, pixel_order::gray, 3);
  std::error_code ec;
  protocol::encoded_image first(a, options.encoding, options);
  protocol::encoded_image second(b, options.encoding, options);
  protocol::encoded_image third(c, options.encoding, options);
  EXPECT_EQ(f.box.write_image(first, true, ec), image_status::sent);
  EXPECT_FALSE(f.box.can_write_image());
  EXPECT_EQ(f.box.write_image(second, true, ec), image_status::pending);
  EXPECT_EQ(f.box.write_image(third, true, ec), image_status::pending); // replaces b
  EXPECT_EQ(f.box.write_image(second, false, ec), image_status::dropped);
  drain(f.box); // a is written, but not yet acknowledged
  EXPECT_TRUE(drain(f.box).empty());
  f.box.acknowledged(1); // now c takes its place
  auto sent = drain(f.box);
  EXPECT_EQ(sent, *third.in(f.protocols.first_writer()).bytes);
  EXPECT_TRUE(f.box.wait_for_image_slot(std::chrono::steady_clock::now()));
}

// An outbox that writes the native protocol, with raw images.
struct native_fixture : fixture {
  native_fixture() : fixture(raw_settings()) {
    std::string line;
    box.switch_to(*protocols.upgrade(line), line);
    drain(box);
  }
  static protocol::settings raw_settings() {
    auto s = hub_settings();
    s.images.encoding = image_encoding::raw;
    s.images.max_frames_in_flight = 1;
    return s;
  }
};

TEST(outbox, a_shared_raw_frame_is_written_from_the_callers_pixels_and_let_go_once_written) {
  native_fixture f;
  f.stream.room = 0; // a full socket: frames wait for the I/O thread
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(64, 48, pixel_order::bgr, 1);
  protocol::encoded_image shared(a, options.encoding, options, /*share_pixels=*/true);
  std::error_code ec;
  ASSERT_EQ(f.box.write_image(shared, true, ec), image_status::sent);
  ASSERT_FALSE(ec);
  auto work = f.box.take();
  // Header, then the caller's own pixels: nothing was copied.
  ASSERT_EQ(work.buffers.size(), 2u);
  EXPECT_EQ(work.buffers[1].data(), a.data());
  EXPECT_EQ(work.buffers[1].size(), a.size_bytes());
  std::string sent;
  std::size_t n = 0;
  for (const auto& b : work.buffers) {
    sent.append(static_cast<const char*>(b.data()), b.size());
    n += b.size();
  }
  // The same bytes as the copying encoding, byte for byte.
  EXPECT_EQ(sent, *native::encode_image(a, image_encoding::raw, 1, 90));
  // Held while the write is under way (by the frame cached in `shared`
  // too, which goes with it at the end of the call)...
  EXPECT_EQ(a.use_count(), 3);
  f.box.written(n);
  // ...and let go once written, before the acknowledgement.
  EXPECT_EQ(a.use_count(), 2);
  EXPECT_FALSE(f.box.can_write_image());
}

TEST(outbox, a_frame_to_an_idle_socket_goes_from_the_writers_thread) {
  native_fixture f;
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(64, 48, pixel_order::bgr, 1);
  protocol::encoded_image shared(a, options.encoding, options, /*share_pixels=*/true);
  const int woken = f.user.scheduled.load();
  std::error_code ec;
  ASSERT_EQ(f.box.write_image(shared, true, ec), image_status::sent);
  // All of it, header and the caller's pixels, byte for byte; the I/O
  // thread was not woken and holds nothing.
  EXPECT_EQ(f.stream.direct, *native::encode_image(a, image_encoding::raw, 1, 90));
  EXPECT_EQ(f.user.scheduled.load(), woken);
  EXPECT_TRUE(f.box.take().buffers.empty());
  EXPECT_EQ(f.box.bytes_out(), f.stream.direct.size());
  EXPECT_EQ(a.use_count(), 2); // only `shared` holds it: the write is done
  // Still in flight until the peer acknowledges it.
  EXPECT_FALSE(f.box.can_write_image());
  f.box.acknowledged(1);
  EXPECT_TRUE(f.box.can_write_image());
}

TEST(outbox, what_the_socket_does_not_take_of_a_frame_the_io_thread_writes_from_there) {
  native_fixture f;
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(64, 48, pixel_order::bgr, 1);
  const auto whole = *native::encode_image(a, image_encoding::raw, 1, 90);
  for (std::size_t room : {std::size_t{3}, whole.size() - a.size_bytes() + 100}) {
    SCOPED_TRACE(room); // inside the header, and inside the pixels
    f.stream.direct.clear();
    f.stream.room = room;
    protocol::encoded_image shared(a, options.encoding, options, /*share_pixels=*/true);
    std::error_code ec;
    ASSERT_EQ(f.box.write_image(shared, true, ec), image_status::sent);
    EXPECT_EQ(f.stream.direct.size(), room);
    auto rest = drain(f.box);
    EXPECT_TRUE(f.box.take().buffers.empty()); // the I/O thread's turn ends
    EXPECT_EQ(f.stream.direct + rest, whole);
    EXPECT_EQ(f.box.bytes_out() % whole.size(), 0u);
    f.box.acknowledged(1);
    ASSERT_TRUE(f.box.can_write_image());
  }
  // A stream that bounds what one try_write may take (TLS encrypts all it
  // is handed) is handed no more: the rest goes from the I/O thread.
  f.stream.direct.clear();
  f.stream.room = 1 << 20;
  f.stream.limit = 10;
  protocol::encoded_image shared(a, options.encoding, options, /*share_pixels=*/true);
  std::error_code ec;
  ASSERT_EQ(f.box.write_image(shared, true, ec), image_status::sent);
  EXPECT_EQ(f.stream.direct.size(), 10u);
  EXPECT_EQ(f.stream.direct + drain(f.box), whole);
}

TEST(outbox, a_copied_raw_frame_does_not_hold_the_callers_image) {
  native_fixture f;
  f.stream.room = 0; // a full socket: frames wait for the I/O thread
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(64, 48, pixel_order::bgr, 1);
  protocol::encoded_image copied(a, options.encoding, options);
  std::error_code ec;
  ASSERT_EQ(f.box.write_image(copied, true, ec), image_status::sent);
  EXPECT_EQ(a.use_count(), 1);
  auto work = f.box.take();
  ASSERT_EQ(work.buffers.size(), 1u);
  EXPECT_NE(static_cast<const std::uint8_t*>(work.buffers[0].data()) + 20, a.data());
}

TEST(outbox, a_shared_pending_frame_is_let_go_when_replaced_or_closed) {
  native_fixture f;
  f.stream.room = 0; // a full socket: frames wait for the I/O thread
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(8, 8, pixel_order::gray, 1);
  auto b = test::pattern_image(8, 8, pixel_order::gray, 2);
  auto c = test::pattern_image(8, 8, pixel_order::gray, 3);
  std::error_code ec;
  {
    protocol::encoded_image first(a, options.encoding, options, true);
    ASSERT_EQ(f.box.write_image(first, true, ec), image_status::sent);
    protocol::encoded_image second(b, options.encoding, options, true);
    ASSERT_EQ(f.box.write_image(second, true, ec), image_status::pending);
    protocol::encoded_image third(c, options.encoding, options, true);
    ASSERT_EQ(f.box.write_image(third, true, ec), image_status::pending);
  }
  EXPECT_EQ(a.use_count(), 2); // queued
  EXPECT_EQ(b.use_count(), 1); // replaced by c
  EXPECT_EQ(c.use_count(), 2); // pending
  ASSERT_TRUE(f.box.close(errc::closed_locally));
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_EQ(c.use_count(), 1);
}

TEST(outbox, a_shared_frame_to_a_legacy_peer_is_a_png_and_holds_nothing) {
  fixture f;
  f.stream.room = 0; // a full socket: frames wait for the I/O thread
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(8, 8, pixel_order::gray, 1);
  protocol::encoded_image shared(a, image_encoding::raw, options, true);
  std::error_code ec;
  ASSERT_EQ(f.box.write_image(shared, true, ec), image_status::sent);
  EXPECT_EQ(a.use_count(), 1);
  protocol::encoded_image copied(a, image_encoding::raw, options);
  EXPECT_EQ(drain(f.box), *copied.in(f.protocols.first_writer()).bytes);
}

TEST(outbox, held_values_go_before_the_closing_message) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  fixture f(s);
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(100, 'x'), ec);
  f.write("a", 1, ec); // held
  bool start = false;
  EXPECT_TRUE(f.box.begin_close(errc::closed_locally, true, start));
  std::string sent;
  for (int i = 0; i < 3; ++i) sent += drain(f.box);
  EXPECT_TRUE(sent.ends_with("{\"type\":\"a\",\"data\":1}\n"
                             "{\"type\":\"__status\",\"data\":\"__closing\"}\n"))
      << sent;
}

TEST(outbox, a_busy_queue_below_its_bound_is_not_full) {
  auto s = fixture::hub_settings();
  s.limits.max_write_queue_bytes = 64;
  s.limits.on_full_queue = overflow_policy::disconnect;
  fixture f(s);
  f.stream.room = 0;
  std::error_code ec;
  f.write("big", std::string(100, 'x'), ec);
  f.write("more", 1, ec);
  EXPECT_EQ(ec, errc::queue_full);
  ASSERT_TRUE(f.box.full_since());
  // The big one is written; a small message comes before the next take:
  // the queue is never empty at a take, but it is below its bound again.
  drain(f.box);
  f.write("small", 1, ec);
  EXPECT_FALSE(ec);
  EXPECT_NE(drain(f.box).find("small"), std::string::npos);
  EXPECT_FALSE(f.box.full_since());
}

TEST(outbox, begin_close_queues_the_closing_message_and_refuses_writes) {
  fixture f;
  bool start = false;
  EXPECT_TRUE(f.box.begin_close(errc::closed_locally, true, start));
  EXPECT_TRUE(start);
  EXPECT_FALSE(f.box.is_open());
  std::error_code ec;
  f.write("late", 1, ec);
  EXPECT_EQ(ec, errc::not_connected);
  EXPECT_EQ(drain(f.box), "{\"type\":\"__status\",\"data\":\"__closing\"}\n");
  auto w = f.box.take();
  EXPECT_TRUE(w.buffers.empty());
  EXPECT_TRUE(w.finish_closing);
  EXPECT_TRUE(f.box.close(errc::peer_eof));
  EXPECT_FALSE(f.box.close(errc::peer_eof));
  EXPECT_TRUE(f.box.closed());
  EXPECT_EQ(f.box.reason(), errc::closed_locally); // the first reason stays
}

TEST(outbox, host_and_client_connections_send_no_closing_message) {
  fixture f(protocol::settings{});
  bool start = false;
  f.box.begin_close(errc::closed_locally, true, start);
  EXPECT_EQ(drain(f.box), "");
  EXPECT_EQ(f.box.messages_out(), 0u);
}

TEST(outbox, close_drops_what_is_queued_and_ends_waits) {
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  f.write("x", 1, ec);
  std::thread closer([&] { f.box.close(errc::peer_eof); });
  EXPECT_FALSE(f.box.flush(std::chrono::steady_clock::now() + 10s));
  EXPECT_TRUE(f.box.wait_closed(std::chrono::steady_clock::now() + 10s));
  closer.join();
  EXPECT_TRUE(f.box.take().buffers.empty());
  EXPECT_FALSE(f.box.wait_for_image_slot(std::chrono::steady_clock::now() + 10s));
}

TEST(outbox, a_flush_holds_once_its_messages_are_written_whatever_follows_them) {
  // A peer that hangs up on reading the last message (a listener told to
  // stop after one) while the I/O thread writes an acknowledgement of the
  // engine's own: everything asked for went.
  fixture f;
  std::error_code ec;
  f.write("x", 1, ec); // straight to the socket
  ASSERT_FALSE(ec);
  f.box.owe_ack();
  auto w = f.box.take(); // the acknowledgement's write begins...
  ASSERT_FALSE(w.buffers.empty());
  f.box.close(errc::peer_closing); // ...and the peer's goodbye comes first
  EXPECT_TRUE(f.box.flush(std::chrono::steady_clock::now() + 10s));
}

TEST(outbox, a_flush_waits_for_a_write_cut_short_by_a_close_to_say_what_it_wrote) {
  // The I/O thread handed the message to the system, and the peer read it
  // and hung up, before the write's completion ran: the close comes first,
  // then the completion, aborted, with every byte counted.
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  f.write("x", 1, ec);
  auto w = f.box.take();
  std::size_t n = 0;
  for (const auto& b : w.buffers) n += b.size();
  f.box.close(errc::peer_closing);
  std::atomic<int> flushed{-1};
  std::thread flusher([&] { flushed = f.box.flush(std::chrono::steady_clock::now() + 10s); });
  // No verdict before the completion has said how much went.
  EXPECT_FALSE(test::eventually([&] { return flushed != -1; }, 100ms)) << "flush said " << flushed;
  f.box.written(n);
  flusher.join();
  EXPECT_EQ(flushed, 1);
}

TEST(outbox, a_flush_fails_when_a_close_drops_a_message_or_a_held_value) {
  {
    fixture f;
    f.stream.room = 0;
    std::error_code ec;
    f.write("x", 1, ec);
    auto w = f.box.take(); // under way...
    f.box.close(errc::peer_eof);
    f.box.written(0); // ...and aborted by the close before a byte went
    EXPECT_FALSE(f.box.flush(std::chrono::steady_clock::now() + 10s));
  }
  // A queue of 64 bytes that one message fills, and a value held behind it.
  auto settings = [] {
    auto s = fixture::hub_settings();
    s.limits.max_write_queue_bytes = 64;
    return s;
  };
  auto hold_a_value = [](fixture& f) {
    f.stream.room = 0;
    std::error_code ec;
    f.write("big", std::string(100, 'x'), ec);
    f.write("a", 1, ec);
  };
  {
    fixture f(settings());
    hold_a_value(f);
    drain(f.box);          // the big one is written
    auto w = f.box.take(); // "a" is released and its write begins...
    ASSERT_FALSE(w.buffers.empty());
    f.box.close(errc::peer_eof);
    f.box.written(0); // ...and is aborted
    EXPECT_FALSE(f.box.flush(std::chrono::steady_clock::now() + 10s));
  }
  {
    fixture f(settings());
    hold_a_value(f);
    drain(f.box); // the big one is written; "a" is still held...
    f.box.close(errc::peer_eof); // ...and dropped
    EXPECT_FALSE(f.box.flush(std::chrono::steady_clock::now() + 10s));
  }
}

// --- a link lost and redialled ------------------------------------------------

TEST(outbox, while_down_writes_keep_the_latest_per_channel_in_the_first_protocol) {
  fixture f;
  f.stream.room = 0;
  std::error_code ec;
  std::string line;
  f.box.switch_to(*f.protocols.upgrade(line), line);
  f.write("lost", 0, ec); // queued for the old link, in frames
  ASSERT_TRUE(f.box.go_down(f.protocols.first_writer()));
  EXPECT_EQ(f.box.current(), outbox::state::down);
  EXPECT_TRUE(f.box.is_open());
  EXPECT_EQ(&f.box.writer(), &f.protocols.first_writer());
  EXPECT_TRUE(f.box.take().buffers.empty()); // nothing for a link that is gone
  f.write("pose", 1, ec);
  EXPECT_FALSE(ec);
  f.write("mode", "auto", ec);
  f.write("pose", 2, ec);
  EXPECT_EQ(f.box.conflated(), 1u);
  EXPECT_TRUE(f.box.take().buffers.empty());
  EXPECT_FALSE(f.box.flush(std::chrono::steady_clock::now() + 10ms)); // held, not sent
  recording_stream next;
  f.box.come_up(next, "HELLO\n", 1);
  EXPECT_EQ(f.box.current(), outbox::state::open);
  EXPECT_EQ(drain(f.box),
            "HELLO\n{\"type\":\"pose\",\"data\":2}\n{\"type\":\"mode\",\"data\":\"auto\"}\n");
}

TEST(outbox, while_down_images_are_dropped_and_acknowledgements_forgotten) {
  fixture f;
  const auto& options = f.protocols.settings().images;
  auto a = test::pattern_image(4, 4, pixel_order::gray, 1);
  protocol::encoded_image img(a, options.encoding, options);
  std::error_code ec;
  EXPECT_EQ(f.box.write_image(img, true, ec), image_status::sent);
  f.box.owe_ack();
  ASSERT_TRUE(f.box.go_down(f.protocols.first_writer()));
  EXPECT_FALSE(f.box.can_write_image());
  EXPECT_EQ(f.box.write_image(img, true, ec), image_status::dropped);
  EXPECT_FALSE(ec); // dropped, as the status says: not an error
  f.box.owe_ack();
  recording_stream next;
  f.box.come_up(next, "", 0);
  // The old link's image and acknowledgement are gone with it: room again.
  EXPECT_EQ(drain(f.box), "");
  EXPECT_TRUE(f.box.can_write_image());
}

TEST(outbox, a_closing_or_closed_outbox_does_not_go_down) {
  fixture f;
  bool start = false;
  ASSERT_TRUE(f.box.begin_close(errc::closed_locally, true, start));
  EXPECT_FALSE(f.box.go_down(f.protocols.first_writer()));
  EXPECT_EQ(f.box.current(), outbox::state::closing);
  fixture g;
  ASSERT_TRUE(g.box.go_down(g.protocols.first_writer()));
  EXPECT_TRUE(g.box.close(errc::closed_locally)); // a reconnecting one may still close
  EXPECT_EQ(g.box.current(), outbox::state::closed);
  std::error_code ec;
  g.write("x", 1, ec);
  EXPECT_EQ(ec, errc::not_connected);
}

} // namespace
} // namespace socketengine::detail
