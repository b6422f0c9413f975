// The protocols without a socket: what the legacy and native readers hand a
// receiver for each kind of input (reserved channels, the negotiation
// lines, the bytes hint, control and image frames), and the suite's choice
// of writers. A recording receiver stands in for the connection.

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <socketengine/error.hpp>

#include "protocol/auth/reader.hpp"
#include "protocol/legacy/base64.hpp"
#include "protocol/legacy/line_codec.hpp"
#include "protocol/legacy/writer.hpp"
#include "protocol/native/frame_codec.hpp"
#include "protocol/suite.hpp"
#include "support/test_images.hpp"

namespace socketengine::detail::protocol {
namespace {

// Writes down every call, one line each.
class recording_receiver final : public receiver {
public:
  void value_received(std::string_view channel, value&& v, std::size_t) override {
    log.push_back("value " + std::string(channel) + "=" + v.dump());
  }
  void bytes_received(std::string_view channel, std::span<const std::uint8_t> bytes,
                      std::size_t) override {
    log.push_back("bytes " + std::string(channel) + " " + std::to_string(bytes.size()));
  }
  void image_received(image&& img, bool counted) override {
    log.push_back("image " + std::to_string(img.width()) + "x" + std::to_string(img.height()) +
                  (counted ? " counted" : ""));
  }
  // Decodes at once, after saying that it was asked to decode, and then
  // says whether it owes an acknowledgement.
  void image_to_decode(image_decoder decode, std::size_t, bool counted, bool acknowledge) override {
    log.push_back("to decode");
    std::error_code ec;
    std::string detail;
    if (auto img = decode(ec, detail))
      image_received(std::move(*img), counted);
    else
      reject(ec, detail);
    if (acknowledge) log.push_back("ack when decoded");
  }
  void peer_named(const std::string& name) override { log.push_back("named " + name); }
  void image_needs_ack(bool now) override { log.push_back(now ? "ack now" : "ack"); }
  void images_acknowledged(std::uint32_t count) override {
    log.push_back("acknowledged " + std::to_string(count));
  }
  void peer_offered() override { log.push_back("offered"); }
  void ping_received() override { log.push_back("ping"); }
  void peer_closing() override {
    log.push_back("closing");
    is_open = false;
  }
  void reject(std::error_code ec, std::string) override {
    log.push_back("reject " + std::to_string(ec.value()));
  }
  void fail(std::error_code ec, std::string) override {
    log.push_back("fail " + std::to_string(ec.value()));
    is_open = false;
  }
  [[nodiscard]] bool make_room(std::size_t) override { return false; }
  [[nodiscard]] bool open() const noexcept override { return is_open; }
  void handshake_reply(std::string_view line) override {
    log.push_back("reply " + std::string(line));
  }
  void peer_authenticated(bool legacy, bool offers_native) override {
    log.push_back(std::string("authenticated") + (legacy ? " legacy" : "") +
                  (offers_native ? " native" : ""));
  }
  void refuse(std::string_view line, std::string) override {
    log.push_back("refuse " + std::string(line));
    is_open = false;
  }

  std::vector<std::string> log;
  bool is_open = true;
};

settings hub_settings(bool offer = true) {
  settings s;
  s.hub = true;
  s.offer_native = offer;
  return s;
}

std::string code(errc e) { return std::to_string(static_cast<int>(e)); }

// Feeds `bytes` to `r` and consumes, as the connection does.
reader::outcome feed(reader& r, std::string_view bytes, receiver& to) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    auto n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
  }
  return r.consume(to);
}

// Feeds `bytes` read by read, consuming after each, as the connection does,
// until the reader pauses or stops; what it did not read is left in `bytes`.
reader::outcome feed_reads(reader& r, std::string_view& bytes, receiver& to) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    auto n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
    if (auto out = r.consume(to); out != reader::outcome::more) return out;
  }
  return reader::outcome::more;
}

std::string line(std::string_view channel, const value& v) {
  std::string out;
  legacy::append_line(out, channel, v);
  return out;
}

TEST(legacy_reader, hands_on_values_and_names) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  EXPECT_EQ(feed(*r, line("__name_conn", "cam") + line("pose", value{{"x", 1}}), to),
            reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"named cam", "value __name_conn=\"cam\"",
                                              "value pose={\"x\":1}"}));
}

TEST(legacy_reader, hub_images_are_acknowledged_and_acks_counted) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  std::string img;
  legacy::append_image_line(img, "__image", test::pattern_image(3, 2, pixel_order::bgr), 1);
  feed(*r, img + line("__ack", "__ack") + line("__image", 5), to);
  // The PNG is handed on to be decoded off the I/O thread; bad base64 is
  // refused at once.
  EXPECT_EQ(to.log, (std::vector<std::string>{"to decode", "image 3x2 counted",
                                              "ack when decoded", "acknowledged 1", "ack",
                                              "reject " + code(errc::invalid_base64)}));
}

TEST(legacy_reader, host_and_client_images_are_values_too_and_unacknowledged) {
  suite s(settings{});
  auto r = s.first_reader();
  recording_receiver to;
  std::string img;
  legacy::append_image_line(img, "image", test::pattern_image(2, 2, pixel_order::gray), 1);
  feed(*r, img + line("__ack", "__ack"), to);
  ASSERT_EQ(to.log.size(), 4u);
  EXPECT_EQ(to.log[0].rfind("value image=\"", 0), 0u);
  EXPECT_EQ(to.log[1], "to decode");
  EXPECT_EQ(to.log[2], "image 2x2");                 // counted as the value already
  EXPECT_EQ(to.log[3], "value __ack=\"__ack\"");      // no acknowledgements here
}

TEST(legacy_reader, closing_is_stored_then_closes_and_the_rest_is_not_read) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  EXPECT_EQ(feed(*r, line("__status", "__closing") + line("after", 1), to),
            reader::outcome::stopped);
  EXPECT_EQ(to.log, (std::vector<std::string>{"value __status=\"__closing\"", "closing"}));
}

TEST(legacy_reader, negotiation_lines_are_never_stored) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  auto outcome = feed(*r,
                      line("__native", value{{"offer", 1}}) +
                          line("__native", value{{"bytes", "b"}}) + line("b", "AAEC") +
                          line("__native", "not an object") +
                          line("__native", value{{"switch", 1}}) + "\x01\x02",
                      to);
  EXPECT_EQ(outcome, reader::outcome::switched);
  EXPECT_EQ(to.log, (std::vector<std::string>{"offered", "value b={\"bytes\":[0,1,2],\"subtype\":null}"}));
  EXPECT_EQ(r->rest(), "\x01\x02"); // what follows the switch is the next reader's
}

TEST(legacy_reader, a_switch_nobody_offered_or_to_another_version_closes) {
  for (auto [offer, version] : {std::pair{false, 1}, std::pair{true, 2}}) {
    suite s(hub_settings(offer));
    auto r = s.first_reader();
    recording_receiver to;
    EXPECT_EQ(feed(*r, line("__native", value{{"switch", version}}), to),
              reader::outcome::stopped);
    EXPECT_EQ(to.log, std::vector<std::string>{"fail " + code(errc::invalid_frame)});
  }
  suite quiet(hub_settings(false));
  auto r = quiet.first_reader();
  recording_receiver to;
  feed(*r, line("__native", value{{"offer", 1}}), to);
  EXPECT_TRUE(to.log.empty()); // an offer to a side that does not offer: nothing
}

TEST(legacy_reader, a_line_past_the_limit_fails_the_stream) {
  auto st = hub_settings();
  st.limits.max_line_bytes = 100;
  suite s(st);
  auto r = s.first_reader();
  recording_receiver to;
  EXPECT_EQ(feed(*r, std::string(200, 'x'), to), reader::outcome::stopped);
  EXPECT_EQ(to.log, std::vector<std::string>{"fail " + code(errc::line_too_long)});
}

TEST(native_reader, control_image_bytes_and_json_frames) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  recording_receiver to;
  std::string frames;
  native::append_ack(frames, 3);
  native::append_bytes(frames, "raw", std::vector<std::uint8_t>(10, 1));
  native::append_value(frames, "v", value(1));
  native::append_value(frames, "__name_conn", value("arm"));
  frames += *native::encode_image(test::pattern_image(4, 3, pixel_order::bgr),
                                  image_encoding::raw, 1, 90);
  native::append_control(frames, native::control_code::closing);
  native::append_value(frames, "after", value(1));
  EXPECT_EQ(feed(*r, frames, to), reader::outcome::stopped);
  EXPECT_EQ(to.log, (std::vector<std::string>{"acknowledged 3", "bytes raw 10", "value v=1",
                                              "named arm", "value __name_conn=\"arm\"",
                                              "ack now", "image 4x3 counted",
                                              "value __status=\"__closing\"", "closing"}));
}

TEST(native_reader, png_and_jpeg_frames_are_decoded_later_from_bytes_of_their_own) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  auto img = test::pattern_image(8, 6, pixel_order::bgr);
  std::string frames = *native::encode_image(img, image_encoding::png, 1, 90) +
                       *native::encode_image(img, image_encoding::jpeg, 1, 90);
  // A receiver that keeps the decoders for later, as the connection does.
  class keeping_receiver final : public receiver {
  public:
    void value_received(std::string_view, value&&, std::size_t) override {}
    void bytes_received(std::string_view, std::span<const std::uint8_t>, std::size_t) override {}
    void image_received(image&&, bool) override { ++in_line; }
    void image_to_decode(image_decoder decode, std::size_t, bool counted, bool acknowledge) override {
      later.push_back(std::move(decode));
      EXPECT_TRUE(counted);
      acks += acknowledge ? 1 : 0;
    }
    void peer_named(const std::string&) override {}
    void image_needs_ack(bool now) override { acks += now ? 1 : 0; }
    void images_acknowledged(std::uint32_t) override {}
    void peer_offered() override {}
    void ping_received() override {}
    void peer_closing() override {}
    void reject(std::error_code, std::string) override {}
    void fail(std::error_code, std::string) override {}
    [[nodiscard]] bool make_room(std::size_t) override { return false; }
    [[nodiscard]] bool open() const noexcept override { return true; }
    void handshake_reply(std::string_view) override {}
    void peer_authenticated(bool, bool) override {}
    void refuse(std::string_view, std::string) override {}
    std::vector<image_decoder> later;
    int in_line = 0;
    int acks = 0;
  } to;
  EXPECT_EQ(feed(*r, frames, to), reader::outcome::more);
  EXPECT_EQ(to.acks, 2); // each to be acknowledged once decoded
  EXPECT_EQ(to.in_line, 0);
  ASSERT_EQ(to.later.size(), 2u);
  // The reader's buffer is overwritten before the decoders run: they hold
  // copies of their frames.
  auto space = r->prepare();
  std::memset(space.data(), 0xff, space.size());
  for (auto& decode : to.later) {
    std::error_code ec;
    std::string detail;
    auto got = decode(ec, detail);
    ASSERT_TRUE(got) << detail;
    EXPECT_EQ(got->width(), 8);
    EXPECT_EQ(got->height(), 6);
  }
}

TEST(native_reader, a_ping_is_owed_a_pong_and_a_pong_is_only_bytes) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  recording_receiver to;
  std::string frames;
  native::append_control(frames, native::control_code::ping);
  native::append_control(frames, native::control_code::pong);
  native::append_control(frames, native::control_code::ping);
  EXPECT_EQ(feed(*r, frames, to), reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"ping", "ping"}));
  // And the native writer makes exactly those frames; the legacy one none.
  std::string line, ping, pong;
  const auto* native = s.upgrade(line);
  ASSERT_NE(native, nullptr);
  native->append_ping(ping);
  native->append_pong(pong);
  EXPECT_EQ(ping + pong, frames.substr(0, ping.size() + pong.size()));
  EXPECT_TRUE(native->heartbeats());
  std::string none;
  s.first_writer().append_ping(none);
  s.first_writer().append_pong(none);
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(s.first_writer().heartbeats());
}

TEST(native_reader, pending_counts_the_bytes_of_an_unfinished_frame) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  recording_receiver to;
  std::string frame;
  native::append_value(frame, "v", value(std::string(100, 'x')));
  EXPECT_EQ(feed(*r, frame.substr(0, 50), to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 50u);
  EXPECT_EQ(feed(*r, frame.substr(50), to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 0u);
  // A frame too big for the shared buffer is counted as it fills its own.
  std::string big;
  native::append_bytes(big, "b", std::vector<std::uint8_t>(200 * 1024, 7));
  for (std::size_t at = 0; at < 150 * 1024; at += 10 * 1024) // read by read, as a connection
    EXPECT_EQ(feed(*r, std::string_view(big).substr(at, 10 * 1024), to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 150u * 1024);
  EXPECT_EQ(feed(*r, std::string_view(big).substr(150 * 1024), to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 0u);
  EXPECT_EQ(to.log.back(), "bytes b " + std::to_string(200 * 1024));
}

TEST(legacy_reader, pending_counts_the_bytes_of_an_unfinished_line) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  EXPECT_EQ(feed(*r, "{\"type\":\"a\",\"data\":1}\n{\"type\"", to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 7u);
  EXPECT_EQ(feed(*r, ":\"b\",\"data\":2}\n", to), reader::outcome::more);
  EXPECT_EQ(r->pending(), 0u);
}

TEST(native_reader, a_second_switch_in_a_json_frame_closes) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  recording_receiver to;
  std::string f;
  native::append_value(f, "__native", value{{"switch", 1}});
  EXPECT_EQ(feed(*r, f, to), reader::outcome::stopped);
  EXPECT_EQ(to.log, std::vector<std::string>{"fail " + code(errc::invalid_frame)});
}

TEST(native_reader, the_bytes_left_by_the_switch_are_its_first) {
  suite s(hub_settings());
  std::string f;
  native::append_value(f, "v", value(7));
  auto r = s.reader_after_switch(std::string_view(f).substr(0, 3));
  recording_receiver to;
  EXPECT_EQ(feed(*r, std::string_view(f).substr(3), to), reader::outcome::more);
  EXPECT_EQ(to.log, std::vector<std::string>{"value v=7"});
}

// --- large messages: decoded off the I/O thread, in order --------------------------

settings budgeted_hub_settings() {
  auto s = hub_settings();
  s.budget = std::make_shared<memory_budget>(0); // counted, no limit
  return s;
}

TEST(legacy_reader, a_large_line_pauses_the_reader_until_its_work_has_run) {
  auto st = budgeted_hub_settings();
  suite s(st);
  auto r = s.first_reader();
  recording_receiver to;
  value big(std::string(off_thread_bytes, 'x'));
  // What follows the large line on its channel and another must come after
  // it, whatever thread decodes it.
  EXPECT_EQ(feed(*r, line("a", 0) + line("a", big) + line("a", 1) + line("b", 2), to),
            reader::outcome::paused);
  EXPECT_EQ(to.log, (std::vector<std::string>{"value a=0"}));
  auto work = r->take_work();
  ASSERT_TRUE(work);
  EXPECT_FALSE(r->take_work()); // handed out once
  // The line's buffer (and its charge) goes with the work, and goes when
  // it has run.
  auto held = st.budget->used();
  EXPECT_GT(held, off_thread_bytes);
  work();
  EXPECT_LT(st.budget->used(), held - off_thread_bytes);
  EXPECT_EQ(r->consume(to), reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"value a=0", "value a=" + big.dump(), "value a=1",
                                              "value b=2"}));
}

TEST(legacy_reader, a_large_image_line_is_unwrapped_off_the_thread_then_decoded) {
  suite s(hub_settings());
  auto r = s.first_reader();
  recording_receiver to;
  std::string img;
  legacy::append_image_line(img, "__image", test::pattern_image(400, 300, pixel_order::bgr), 1);
  ASSERT_GE(img.size(), off_thread_bytes);
  EXPECT_EQ(feed(*r, img + line("__ack", "__ack"), to), reader::outcome::paused);
  EXPECT_TRUE(to.log.empty());
  r->take_work()();
  EXPECT_EQ(r->consume(to), reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"to decode", "image 400x300 counted",
                                              "ack when decoded", "acknowledged 1"}));
}

TEST(legacy_reader, work_outlives_the_reader_it_came_from) {
  auto st = budgeted_hub_settings();
  std::function<void()> work;
  {
    suite s(st);
    auto r = s.first_reader();
    recording_receiver to;
    EXPECT_EQ(feed(*r, line("a", std::string(off_thread_bytes, 'x')), to),
              reader::outcome::paused);
    work = r->take_work();
  } // the connection closed while the work waited for its thread
  work();
  work = nullptr;
  EXPECT_EQ(st.budget->used(), 0u);
}

TEST(native_reader, a_large_json_frame_pauses_the_reader_until_its_work_has_run) {
  auto st = budgeted_hub_settings();
  suite s(st);
  auto r = s.reader_after_switch({});
  recording_receiver to;
  value big(std::string(2 * off_thread_bytes, 'x'));
  std::string frames;
  native::append_value(frames, "a", value(0));
  native::append_value(frames, "a", big);
  native::append_value(frames, "a", value(1));
  native::append_value(frames, "b", value(2));
  std::string_view unread = frames;
  EXPECT_EQ(feed_reads(*r, unread, to), reader::outcome::paused);
  EXPECT_EQ(to.log, (std::vector<std::string>{"value a=0"}));
  auto work = r->take_work();
  ASSERT_TRUE(work);
  EXPECT_FALSE(r->take_work());
  auto held = st.budget->used();
  EXPECT_GT(held, 2 * off_thread_bytes);
  work();
  EXPECT_LT(st.budget->used(), held - 2 * off_thread_bytes);
  EXPECT_EQ(r->consume(to), reader::outcome::more);
  EXPECT_EQ(feed_reads(*r, unread, to), reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"value a=0", "value a=" + big.dump(), "value a=1",
                                              "value b=2"}));
}

TEST(native_reader, a_large_frame_that_is_not_json_is_refused_after_its_work) {
  suite s(hub_settings());
  auto r = s.reader_after_switch({});
  recording_receiver to;
  std::string frames;
  native::append_value(frames, "a", value(std::string(2 * off_thread_bytes, 'x')));
  frames[frames.size() - 1] = '!'; // the closing quote
  native::append_value(frames, "a", value(1));
  std::string_view unread = frames;
  EXPECT_EQ(feed_reads(*r, unread, to), reader::outcome::paused);
  r->take_work()();
  EXPECT_EQ(r->consume(to), reader::outcome::more);
  EXPECT_EQ(feed_reads(*r, unread, to), reader::outcome::more);
  EXPECT_EQ(to.log, (std::vector<std::string>{"reject " + code(errc::invalid_json), "value a=1"}));
}

TEST(suite, writes_legacy_first_and_native_after_the_upgrade_when_offered) {
  suite s(hub_settings());
  EXPECT_EQ(s.first_writer().kind(), protocol_kind::legacy);
  std::string greeting;
  s.append_greeting(greeting, "cam");
  EXPECT_EQ(greeting, line("__name_conn", "cam") + line("__native", value{{"offer", 1}}));
  std::string switch_line;
  const auto* next = s.upgrade(switch_line);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->kind(), protocol_kind::native);
  EXPECT_EQ(switch_line, line("__native", value{{"switch", 1}}));
  EXPECT_NE(next->slot(), s.first_writer().slot());

  suite legacy_only(hub_settings(false));
  std::string none;
  EXPECT_EQ(legacy_only.upgrade(none), nullptr);
  EXPECT_TRUE(none.empty());
  std::string plain;
  legacy_only.append_greeting(plain, std::nullopt);
  EXPECT_TRUE(plain.empty());
}

// --- token authentication's handshake (auth::reader) -------------------------

settings token_settings(bool allow_legacy = false) {
  auto s = hub_settings();
  s.token = std::make_shared<const auth::secret>("s3cret");
  s.allow_legacy = allow_legacy;
  s.nonces = std::make_shared<auth::nonce_registry>(std::chrono::seconds(10));
  return s;
}

auth::nonce nonce_of(std::uint8_t first) {
  auth::nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(first + i);
  return n;
}

std::string hello(const auth::nonce& n) {
  std::string out;
  legacy::writer(0, hub_settings(), 1).append_hello(out, n);
  return out;
}

std::string proof(const auth::proof& p) {
  std::string out;
  legacy::writer::append_proof(out, p);
  return out;
}

// A listener's handshake reader, its nonce 00.., facing a dialler whose
// nonce is 10..; the reader as the connection holds it.
struct handshake {
  explicit handshake(bool allow_legacy = false)
      : s(token_settings(allow_legacy)), r(s, auth::role::listener, mine) {}
  settings s;
  auth::nonce mine = nonce_of(0x00), theirs = nonce_of(0x10);
  auth::reader r;
  recording_receiver to;
};

TEST(auth_reader, answers_a_hello_with_its_proof_and_opens_on_the_peers) {
  handshake h;
  const auth::secret& token = *h.s.token;
  EXPECT_EQ(feed(h.r, hello(h.theirs), h.to), reader::outcome::more);
  ASSERT_EQ(h.to.log.size(), 1u);
  EXPECT_EQ(h.to.log[0],
            "reply " + proof(auth::prove(token, auth::role::listener, h.theirs, h.mine)));
  // The dialler's proof, and what follows it in the same read.
  auto after = line("x", 1);
  EXPECT_EQ(feed(h.r, proof(auth::prove(token, auth::role::dialler, h.mine, h.theirs)) + after,
                 h.to),
            reader::outcome::switched);
  EXPECT_EQ(h.to.log.back(), "authenticated native");
  EXPECT_EQ(h.r.rest(), after);
  EXPECT_EQ(h.to.log.size(), 2u); // nothing stored, nothing named
}

TEST(auth_reader, refuses_a_proof_made_with_another_token_or_for_another_role) {
  for (int wrong = 0; wrong < 3; ++wrong) {
    SCOPED_TRACE(wrong);
    handshake h;
    auth::secret other("s3creT");
    auto p = wrong == 0   ? auth::prove(other, auth::role::dialler, h.mine, h.theirs)
             : wrong == 1 ? auth::prove(*h.s.token, auth::role::listener, h.mine, h.theirs)
                          : auth::prove(*h.s.token, auth::role::dialler, h.theirs, h.mine);
    feed(h.r, hello(h.theirs), h.to);
    EXPECT_EQ(feed(h.r, proof(p) + line("x", 1), h.to), reader::outcome::stopped);
    EXPECT_EQ(h.to.log.back(), R"(refuse {"type":"__native","data":{"refuse":"bad_token"}})" "\n");
    EXPECT_EQ(h.to.log.size(), 2u);
  }
}

TEST(auth_reader, refuses_a_peer_without_a_token_or_speaking_first_with_data) {
  handshake offer_only, data_first, proof_first;
  feed(offer_only.r, R"({"type":"__native","data":{"offer":1}})" "\n", offer_only.to);
  feed(data_first.r, line("__name_conn", "old") + line("x", 1), data_first.to);
  feed(proof_first.r, proof(auth::proof{}), proof_first.to);
  const std::string required =
      R"(refuse {"type":"__native","data":{"refuse":"token_required"}})" "\n";
  EXPECT_EQ(offer_only.to.log, std::vector<std::string>{required});
  EXPECT_EQ(data_first.to.log, std::vector<std::string>{required});
  // A proof before any hello is a `__native` line without a nonce or an
  // offer: ignored, and the peer has still to say hello.
  EXPECT_TRUE(proof_first.to.log.empty());
}

TEST(auth_reader, refuses_its_own_nonce_back) {
  handshake h;
  auto issued = h.s.nonces->issue();
  EXPECT_EQ(feed(h.r, hello(issued), h.to), reader::outcome::stopped);
  EXPECT_EQ(h.to.log.back(), R"(refuse {"type":"__native","data":{"refuse":"bad_hello"}})" "\n");
  handshake own;
  EXPECT_EQ(feed(own.r, hello(own.mine), own.to), reader::outcome::stopped);
}

TEST(auth_reader, with_allow_legacy_hands_a_legacy_peers_lines_on_unread) {
  handshake h(/*allow_legacy=*/true);
  auto bytes = line("__name_conn", "old") + line("x", 1) + line("y", 2);
  EXPECT_EQ(feed(h.r, bytes, h.to), reader::outcome::switched);
  EXPECT_EQ(h.to.log, std::vector<std::string>{"authenticated legacy"});
  EXPECT_EQ(h.r.rest(), bytes); // the name, the line that told, and after
}

TEST(auth_reader, a_first_line_longer_than_a_handshake_fails_or_with_allow_legacy_is_handed_on) {
  std::string big = line("image", std::string(6000, 'A'));
  handshake strict, lenient(/*allow_legacy=*/true);
  std::string_view rest = big;
  EXPECT_EQ(feed_reads(strict.r, rest, strict.to), reader::outcome::stopped);
  EXPECT_EQ(strict.to.log, std::vector<std::string>{"fail " + code(errc::line_too_long)});
  rest = big;
  EXPECT_EQ(feed_reads(lenient.r, rest, lenient.to), reader::outcome::switched);
  EXPECT_EQ(std::string(lenient.r.rest()) + std::string(rest), big);
}

TEST(auth_reader, the_deadline_fails_it_or_with_allow_legacy_admits_a_silent_peer) {
  handshake strict, lenient(/*allow_legacy=*/true);
  EXPECT_EQ(strict.r.deadline_passed(strict.to, "late"), reader::outcome::stopped);
  EXPECT_EQ(strict.to.log, std::vector<std::string>{"fail " + code(errc::not_identified)});
  EXPECT_EQ(lenient.r.deadline_passed(lenient.to, "late"), reader::outcome::switched);
  EXPECT_EQ(lenient.to.log, std::vector<std::string>{"authenticated legacy"});
}

TEST(auth_reader, a_refusal_from_the_peer_fails_with_unauthenticated) {
  handshake h;
  EXPECT_EQ(feed(h.r, R"({"type":"__native","data":{"refuse":"bad_token"}})" "\n", h.to),
            reader::outcome::stopped);
  EXPECT_EQ(h.to.log, std::vector<std::string>{"fail " + code(errc::unauthenticated)});
}

} // namespace
} // namespace socketengine::detail::protocol
