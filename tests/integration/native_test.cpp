// The native protocol between engines: negotiation whoever dials, with and
// without native on either side; messages and images written before,
// during and after the switch; every payload kind; image credits; and bad
// frames from a peer that speaks the protocol by hand.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "support/test_images.hpp"
#include "support/test_support.hpp"
#include "protocol/legacy/line_codec.hpp"
#include "protocol/native/frame_codec.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::pattern_image;
using test::patience;
using test::round_trip;

struct switch_case {
  bool dialler_native;
  bool listener_native;
};

class negotiation : public ::testing::TestWithParam<switch_case> {};

TEST_P(negotiation, hubs_switch_only_when_both_offer) {
  auto [dialler_native, listener_native] = GetParam();
  hub listener({.port = 0, .native = listener_native});
  hub dialler({.port = 0, .native = dialler_native});
  auto out = dialler.connect("d", "127.0.0.1", listener.port());
  auto in = listener.wait_for_connection(patience);
  ASSERT_TRUE(in);
  round_trip(*out, *in);
  round_trip(*in, *out);
  bool both = dialler_native && listener_native;
  EXPECT_EQ(out->is_native(), both);
  EXPECT_EQ(in->is_native(), both);
  // The offer is the protocol's: never stored as a value, whoever gets it.
  EXPECT_FALSE(in->get("__native"));
  EXPECT_FALSE(out->get("__native"));
  EXPECT_EQ(in->name(), "d");
  EXPECT_EQ(in->stats().errors, 0u);
  EXPECT_EQ(out->stats().errors, 0u);
}

TEST_P(negotiation, host_and_client_switch_only_when_both_offer) {
  auto [client_native, host_native] = GetParam();
  host h({.port = 0, .native = host_native});
  h.start();
  client c({.port = h.port(), .native = client_native});
  auto in = h.wait_for_connection(patience);
  ASSERT_TRUE(in);
  round_trip(*c.connection(), *in);
  bool both = client_native && host_native;
  EXPECT_EQ(c.connection()->is_native(), both);
  EXPECT_EQ(in->is_native(), both);
  EXPECT_FALSE(in->get("__native"));
}

INSTANTIATE_TEST_SUITE_P(all, negotiation,
                         ::testing::Values(switch_case{true, true}, switch_case{true, false},
                                           switch_case{false, true}, switch_case{false, false}),
                         [](const auto& info) {
                           return std::string(info.param.dialler_native ? "native" : "legacy") +
                                  "_dials_" + (info.param.listener_native ? "native" : "legacy");
                         });

// Collects every value on "seq" that one side receives, in order.
struct sequence_log {
  std::mutex mu;
  std::vector<std::int64_t> seen;
  void watch(engine& e) {
    e.on("seq", [this](const std::shared_ptr<connection>&, const value& v) {
      std::lock_guard lk(mu);
      seen.push_back(v.get<std::int64_t>());
    });
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return seen.size();
  }
};

// Writes 0, 1, 2, ... on "seq" from the moment the connection is there
// until it has switched and `after` more have gone.
struct sequence_writer {
  std::int64_t next = 0;
  void run(connection& c, int after) {
    while (!c.is_native()) {
      c.write("seq", next++);
      ASSERT_LT(next, 1'000'000) << "never switched";
    }
    for (int i = 0; i < after; ++i) c.write("seq", next++);
  }
};

void expect_in_order(sequence_log& log, std::int64_t count) {
  ASSERT_TRUE(eventually([&] { return log.size() >= static_cast<std::size_t>(count); }));
  std::lock_guard lk(log.mu);
  ASSERT_EQ(log.seen.size(), static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i)
    ASSERT_EQ(log.seen[static_cast<std::size_t>(i)], i) << "out of order or lost at " << i;
}

TEST(switch_over, messages_both_ways_arrive_once_and_in_order) {
  sequence_log at_listener, at_dialler; // before the hubs, whose handlers fill them
  hub listener({.port = 0});
  hub dialler({.port = 0});
  at_listener.watch(listener);
  at_dialler.watch(dialler);
  auto out = dialler.connect("d", "127.0.0.1", listener.port());
  auto in = listener.wait_for_connection(patience);
  ASSERT_TRUE(in);
  // Both sides write from the first moment, through their switch and on.
  sequence_writer from_dialler, from_listener;
  std::thread t([&] { from_listener.run(*in, 2000); });
  from_dialler.run(*out, 2000);
  t.join();
  // Within one process the offers are usually in before the writers
  // start; a hand-made peer (below) covers lines before the switch exactly.
  expect_in_order(at_listener, from_dialler.next);
  expect_in_order(at_dialler, from_listener.next);
  EXPECT_EQ(in->stats().errors, 0u);
  EXPECT_EQ(out->stats().errors, 0u);
}

TEST(switch_over, host_and_client_messages_arrive_once_and_in_order) {
  sequence_log at_host; // before the host, whose handler fills it until it is gone
  host h({.port = 0});
  h.start();
  at_host.watch(h);
  client c({.port = h.port()});
  sequence_writer w;
  w.run(*c.connection(), 2000);
  expect_in_order(at_host, w.next);
}

TEST(switch_over, each_direction_switches_exactly_at_its_switch_line) {
  // A peer played by hand decides when to offer and when to switch, so the
  // lines before and the frames after are known exactly.
  sequence_log at_hub; // before the hub, whose handler fills it until it is gone
  hub h({.port = 0});
  at_hub.watch(h);
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.expect_native_offer();
  std::string lines;
  for (int i = 0; i < 100; ++i) {
    conn->write("seq", i);
    lines += R"({"type":"seq","data":)" + std::to_string(i) + "}\n";
  }
  peer.send(lines);
  // The offer makes the hub switch what it writes; it reads lines until our
  // switch line.
  peer.send(R"({"type":"__native","data":{"offer":1}})" "\n");
  ASSERT_TRUE(eventually([&] { return conn->is_native(); }));
  for (int i = 100; i < 200; ++i) conn->write("seq", i);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(peer.read_line(), R"({"type":"seq","data":)" + std::to_string(i) + "}");
  ASSERT_EQ(peer.read_line(), R"({"type":"__native","data":{"switch":1}})");
  for (int i = 100; i < 200; ++i) {
    auto size = peer.read_exactly(4);
    auto body = peer.read_exactly(detail::native::load_u32(reinterpret_cast<const std::uint8_t*>(size.data())));
    ASSERT_EQ(body, std::string("\x01\x00\x03\x00seq", 7) + std::to_string(i));
  }
  std::string frames = R"({"type":"__native","data":{"switch":1}})" "\n";
  for (int i = 100; i < 200; ++i) detail::native::append_value(frames, "seq", value(i));
  peer.send(frames);
  expect_in_order(at_hub, 200);
  EXPECT_EQ(conn->stats().errors, 0u);
}

TEST(switch_over, images_pending_at_the_switch_go_before_it) {
  hub h({.port = 0, .images = {.encoding = image_encoding::raw}});
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.expect_native_offer();
  auto before = pattern_image(40, 30, pixel_order::bgr, 1);
  auto pending = pattern_image(40, 30, pixel_order::bgr, 2);
  auto after = pattern_image(40, 30, pixel_order::rgb, 3);
  EXPECT_EQ(conn->write_image(before), image_status::sent);     // a base64 PNG line
  EXPECT_EQ(conn->write_image(pending), image_status::pending); // encoded as a line too
  peer.send(R"({"type":"__native","data":{"offer":1}})" "\n");
  ASSERT_TRUE(eventually([&] { return conn->is_native(); }));
  auto line_image = [&] {
    auto r = detail::legacy::decode_line(peer.read_line(), 64);
    EXPECT_EQ(r.message.channel, "__image");
    std::error_code ec;
    std::string why;
    auto img = detail::legacy::decode_image_data(r.message.data.get<std::string>(), 1 << 20, ec, why);
    EXPECT_TRUE(img) << why;
    return img.value_or(image());
  };
  EXPECT_EQ(line_image(), before);
  EXPECT_EQ(line_image(), pending); // ahead of the switch line, still a line
  ASSERT_EQ(peer.read_line(), R"({"type":"__native","data":{"switch":1}})");
  // Acknowledge both, in frames, and the next image is a raw frame.
  std::string ack = R"({"type":"__native","data":{"switch":1}})" "\n";
  detail::native::append_ack(ack, 2);
  peer.send(ack);
  ASSERT_TRUE(eventually([&] { return conn->can_write_image(); }));
  EXPECT_EQ(conn->write_image(after), image_status::sent);
  auto size = peer.read_exactly(4);
  auto body = peer.read_exactly(detail::native::load_u32(reinterpret_cast<const std::uint8_t*>(size.data())));
  std::string why;
  auto f = detail::native::parse_frame({reinterpret_cast<const std::uint8_t*>(body.data()), body.size()},
                                       nullptr, why);
  ASSERT_TRUE(f) << why;
  std::error_code ec;
  auto img = detail::native::decode_image(*f, 1 << 20, ec, why);
  ASSERT_TRUE(img) << why;
  EXPECT_EQ(*img, after); // raw keeps the sender's pixel order
}

// --- payload kinds --------------------------------------------------------------

// Two hubs that have switched.
struct native_pair {
  explicit native_pair(hub_options options = {.port = 0})
      : receiver([&] {
          auto o = options;
          o.port = 0;
          return o;
        }()),
        sender(options) {
    out = sender.connect("n", "127.0.0.1", receiver.port());
    in = receiver.wait_for_connection(patience);
    EXPECT_TRUE(in);
    round_trip(*out, *in);
    EXPECT_TRUE(out->is_native());
    EXPECT_TRUE(in->is_native());
  }
  hub receiver;
  hub sender;
  std::shared_ptr<connection> out;
  std::shared_ptr<connection> in;
};

using bytes = std::vector<std::uint8_t>;

// The bytes of a binary value.
bytes bytes_of(const value& v) {
  const auto& b = v.get_binary();
  return bytes(b.begin(), b.end());
}

// Sends `v` on a channel of its own and returns what arrived.
value pass(native_pair& p, std::string_view channel, const value& v) {
  p.out->write(channel, v);
  auto got = p.in->wait_for(channel, patience);
  EXPECT_TRUE(got) << channel;
  return got.value_or(value());
}

TEST(native_payloads, every_json_type_round_trips) {
  native_pair p;
  const std::vector<value> values = {
      nullptr,
      true,
      false,
      0,
      -1,
      std::numeric_limits<std::int64_t>::min(),
      std::numeric_limits<std::uint64_t>::max(),
      3.5,
      -0.0,
      1e300,
      "",
      "plain",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"quoted\" \\ \n\t",
      value::array(),
      value::object(),
      value{1, "two", nullptr, value{{"three", 3}}},
      value{{"nested", {{"deep", {1, 2, {3, {4}}}}}}, {"x", 1.25}},
  };
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto channel = test::numbered("v", static_cast<long long>(i));
    auto got = pass(p, channel, values[i]);
    EXPECT_EQ(got, values[i]) << i << ": " << values[i].dump();
    // Numbers compare by value: non-negative integers come back unsigned,
    // as nlohmann's parser gives them in the legacy protocol too.
    if (!values[i].is_number()) {
      EXPECT_EQ(got.type(), values[i].type()) << i;
    }
  }
  EXPECT_EQ(p.in->stats().errors, 0u);
}

TEST(native_payloads, channel_names_round_trip) {
  native_pair p;
  for (std::string channel : {std::string("a"), std::string("caf\xc3\xa9"), std::string(300, 'c'),
                              std::string("with space"), std::string("__reservedish")}) {
    EXPECT_EQ(pass(p, channel, 7), value(7)) << channel;
  }
}

TEST(native_payloads, bytes_round_trip_as_binary_values) {
  native_pair p;
  std::vector<std::uint8_t> small = {0, 1, 0xFF, '\n', '"'};
  std::vector<std::uint8_t> large(3 << 20);
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<std::uint8_t>(i * 31 + 7);
  p.out->write_bytes("small", small);
  p.out->write_bytes("empty", std::span<const std::uint8_t>());
  p.out->write_bytes("large", large);
  p.out->write("as_value", value::binary({9, 8, 7}));
  auto got = p.in->wait_for("as_value", patience);
  ASSERT_TRUE(got);
  EXPECT_EQ(bytes_of(*got), (bytes{9, 8, 7}));
  ASSERT_TRUE(p.in->get("small")->is_binary());
  EXPECT_EQ(bytes_of(*p.in->get("small")), small);
  EXPECT_TRUE(bytes_of(*p.in->get("empty")).empty());
  EXPECT_EQ(bytes_of(*p.in->get("large")), large);
}

TEST(native_payloads, a_legacy_peer_gets_bytes_as_base64_after_a_hint) {
  hub h({.port = 0});
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.expect_native_offer();
  const std::uint8_t bytes[] = {0, 1, 2, 0xFF};
  conn->write_bytes("b", bytes);
  // The hint is a line a legacy peer stores and ignores, as the offer.
  EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"bytes":"b"}})");
  EXPECT_EQ(peer.read_line(), R"({"type":"b","data":"AAEC/w=="})");
}

TEST(native_payloads, bytes_stay_bytes_before_the_switch_and_with_native_off) {
  // Written as soon as connect() returns, before the connection can have
  // switched, or to a peer that never switches: the hint keeps them bytes.
  const std::uint8_t sent[] = {0, 1, 2, 0xFF};
  for (bool receiver_native : {true, false}) {
    for (int i = 0; i < 20; ++i) {
      hub receiver({.port = 0, .native = receiver_native});
      hub sender({.port = 0});
      auto out = sender.connect("n", "127.0.0.1", receiver.port());
      out->write_bytes("b", sent);
      auto in = receiver.wait_for_connection(patience);
      ASSERT_TRUE(in);
      auto got = in->wait_for("b", patience);
      ASSERT_TRUE(got);
      ASSERT_TRUE(got->is_binary()) << got->dump() << " receiver native " << receiver_native;
      EXPECT_EQ(bytes_of(*got), bytes(std::begin(sent), std::end(sent)));
      EXPECT_FALSE(in->get("__native"));
    }
  }
}

TEST(native_payloads, a_hinted_value_that_is_not_base64_is_reported) {
  std::mutex mu; // before the hub: its error handler may run until the hub is gone
  std::vector<std::error_code> errors;
  hub h({.port = 0});
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  h.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    std::lock_guard lk(mu);
    errors.push_back(ec);
  });
  peer.send(R"({"type":"__native","data":{"bytes":"b"}})" "\n"
            R"({"type":"b","data":"not base64!"})" "\n"
            R"({"type":"b","data":"AAE="})" "\n");
  // The hint covers one value: the second is bytes only if hinted again.
  ASSERT_TRUE(eventually([&] { return conn->get("b") == value("AAE="); }));
  // Errors reach the handler on the callback thread.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !errors.empty();
  }));
  std::lock_guard lk(mu);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], errc::invalid_base64);
}

struct encoding_case {
  image_encoding encoding;
  pixel_order order;
  bool exact;
};

class native_images : public ::testing::TestWithParam<encoding_case> {};

TEST_P(native_images, round_trip_in_each_encoding) {
  auto [encoding, order, exact] = GetParam();
  native_pair p;
  image img(64, 48, order);
  // Smooth, so JPEG's result can be held to a small error.
  for (std::uint32_t y = 0; y < 48; ++y)
    for (std::uint32_t x = 0; x < 64; ++x)
      for (int c = 0; c < img.channels(); ++c)
        img.data()[(y * 64 + x) * img.channels() + c] = static_cast<std::uint8_t>(x * 3 + y + c * 50);
  auto since = p.in->image_version();
  EXPECT_EQ(p.out->write_image(img, encoding), image_status::sent);
  auto got = p.in->wait_for_next_image(patience, since);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->width(), 64u);
  ASSERT_EQ(got->height(), 48u);
  if (exact) {
    // Raw keeps the order; PNG comes back as the legacy protocol's images do.
    if (encoding == image_encoding::raw) EXPECT_EQ(*got, img);
    else EXPECT_EQ(got->channels(), img.channels());
  } else {
    double error = 0;
    auto expected = img;
    ASSERT_EQ(got->channels(), order == pixel_order::gray ? 1 : 3);
    for (std::size_t i = 0; i < 64 * 48; ++i)
      for (int c = 0; c < got->channels(); ++c)
        error += std::abs(int(got->data()[i * got->channels() + c]) -
                          int(expected.data()[i * img.channels() + c]));
    EXPECT_LT(error / double(64 * 48 * got->channels()), 4.0);
  }
  EXPECT_EQ(p.in->stats().errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    all, native_images,
    ::testing::Values(encoding_case{image_encoding::raw, pixel_order::gray, true},
                      encoding_case{image_encoding::raw, pixel_order::bgr, true},
                      encoding_case{image_encoding::raw, pixel_order::rgb, true},
                      encoding_case{image_encoding::raw, pixel_order::bgra, true},
                      encoding_case{image_encoding::raw, pixel_order::rgba, true},
                      encoding_case{image_encoding::png, pixel_order::bgr, true},
                      encoding_case{image_encoding::png, pixel_order::bgra, true},
                      encoding_case{image_encoding::jpeg, pixel_order::gray, false},
                      encoding_case{image_encoding::jpeg, pixel_order::bgr, false}),
    [](const auto& info) {
      std::string name = info.param.encoding == image_encoding::png    ? "png_"
                         : info.param.encoding == image_encoding::jpeg ? "jpeg_"
                                                                       : "raw_";
      return name + std::string(to_string(info.param.order));
    });

TEST(native_images, shared_pixels_round_trip_in_each_encoding_and_are_let_go) {
  native_pair p({.port = 0, .images = {.encoding = image_encoding::raw}});
  auto img = pattern_image(640, 480, pixel_order::bgr);
  auto since = p.in->image_version();
  EXPECT_EQ(p.out->write_image(img, share_pixels), image_status::sent);
  auto got = p.in->wait_for_next_image(patience, since);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, img);
  EXPECT_NE(got->data(), img.data());
  ASSERT_TRUE(eventually([&] { return img.use_count() == 1; }));
  // PNG (and JPEG) are encoded on the calling thread: nothing is held.
  since = p.in->image_version();
  ASSERT_TRUE(p.out->wait_for_image_slot(patience));
  std::error_code ec;
  p.out->write_image(img, image_encoding::png, share_pixels, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(img.use_count(), 1);
  got = p.in->wait_for_next_image(patience, since);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, img);
  EXPECT_EQ(p.in->stats().errors, 0u);
}

TEST(native_images, a_hub_shares_one_image_with_native_and_legacy_peers) {
  hub centre({.port = 0, .images = {.encoding = image_encoding::raw}});
  hub native_peer({.port = 0});
  hub other_native_peer({.port = 0});
  hub legacy_peer({.port = 0, .native = false});
  auto n = native_peer.connect("n", "127.0.0.1", centre.port());
  auto m = other_native_peer.connect("m", "127.0.0.1", centre.port());
  auto l = legacy_peer.connect("l", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(3, patience));
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return std::all_of(cs.begin(), cs.end(), [](auto& c) { return !c->name().empty(); });
  }));
  for (auto& c : centre.connections())
    round_trip(*c, c->name() == "n" ? *n : c->name() == "m" ? *m : *l);
  auto img = pattern_image(320, 240, pixel_order::bgr);
  EXPECT_EQ(centre.write_image_all(img, share_pixels), 3u);
  EXPECT_EQ(*n->wait_for_image(patience), img);
  EXPECT_EQ(*m->wait_for_image(patience), img);
  EXPECT_EQ(*l->wait_for_image(patience), img); // as a PNG
  EXPECT_TRUE(eventually([&] { return img.use_count() == 1; }));
}

TEST(native_images, host_and_client_send_shared_pixels) {
  host h({.port = 0, .images = {.encoding = image_encoding::raw}});
  h.start();
  client c({.port = h.port(), .images = {.encoding = image_encoding::raw}});
  auto from_client = h.wait_for_connection(patience);
  ASSERT_TRUE(from_client);
  round_trip(*c.connection(), *from_client);
  ASSERT_TRUE(from_client->is_native() && c.connection()->is_native());
  auto up = pattern_image(64, 48, pixel_order::rgb, 1);
  auto down = pattern_image(64, 48, pixel_order::gray, 2);
  EXPECT_EQ(c.write_image(up, share_pixels), image_status::sent);
  EXPECT_EQ(*from_client->wait_for_image(patience), up);
  EXPECT_EQ(h.write_image_all(down, share_pixels), 1u);
  EXPECT_EQ(*c.wait_for_image(patience), down);
  EXPECT_TRUE(eventually([&] { return up.use_count() == 1 && down.use_count() == 1; }));
}

TEST(native_images, the_engine_encoding_is_the_default_and_png_exact) {
  native_pair p({.port = 0, .images = {.encoding = image_encoding::png}});
  auto img = pattern_image(33, 17, pixel_order::bgr);
  EXPECT_EQ(p.out->write_image(img), image_status::sent);
  EXPECT_EQ(*p.in->wait_for_image(patience), img);
}

TEST(native_images, a_hub_sends_one_image_to_native_and_legacy_peers) {
  hub centre({.port = 0, .images = {.encoding = image_encoding::raw}});
  hub native_peer({.port = 0});
  hub legacy_peer({.port = 0, .native = false});
  auto n = native_peer.connect("n", "127.0.0.1", centre.port());
  auto l = legacy_peer.connect("l", "127.0.0.1", centre.port());
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  // Connections are listed on accept; their names come with the first line.
  ASSERT_TRUE(eventually([&] {
    auto cs = centre.connections();
    return std::all_of(cs.begin(), cs.end(), [](auto& c) { return !c->name().empty(); });
  }));
  for (auto& c : centre.connections()) round_trip(*c, c->name() == "n" ? *n : *l);
  auto img = pattern_image(20, 10, pixel_order::bgr);
  EXPECT_EQ(centre.write_image_all(img), 2u);
  EXPECT_EQ(*n->wait_for_image(patience), img);
  EXPECT_EQ(*l->wait_for_image(patience), img);
}

// --- a peer that speaks the native protocol by hand -------------------------------

// A raw socket that dials a hub, offers, switches, and then writes and
// reads frames byte by byte.
struct hand_peer {
  explicit hand_peer(hub_options options = {.port = 0}) : h(options) {
    peer.connect(h.port());
    conn = h.wait_for_connection(patience);
    EXPECT_TRUE(conn);
    peer.expect_native_offer();
    // Our offer makes the hub switch; our switch makes it read frames.
    peer.send(R"({"type":"__native","data":{"offer":1}})" "\n"
              R"({"type":"__native","data":{"switch":1}})" "\n");
    EXPECT_EQ(peer.read_line(), R"({"type":"__native","data":{"switch":1}})");
    h.on_error([this](const std::shared_ptr<connection>&, std::error_code ec, const std::string& d) {
      std::lock_guard lk(mu);
      errors.push_back(ec);
      details.push_back(d);
    });
  }

  // Reads one frame from the hub: its body (after the size field).
  std::string read_frame() {
    auto size = peer.read_exactly(4);
    auto n = detail::native::load_u32(reinterpret_cast<const std::uint8_t*>(size.data()));
    return peer.read_exactly(n);
  }

  std::size_t error_count() {
    std::lock_guard lk(mu);
    return errors.size();
  }

  // Declared before the hub so that they outlive it: the hub's callback
  // thread may still report (the peer's close, say) until the hub is gone.
  std::mutex mu;
  std::vector<std::error_code> errors;
  std::vector<std::string> details;
  hub h;
  test::raw_peer peer;
  std::shared_ptr<connection> conn;
};

TEST(hand_written_frames, a_shared_raw_frame_is_held_until_written_and_carries_its_pixels) {
  // No heartbeat: a ping sent while the test makes its image (slow under a
  // sanitizer) would come before the frame.
  hand_peer p({.port = 0,
               .images = {.encoding = image_encoding::raw},
               .keepalive = {.heartbeat_interval = std::chrono::milliseconds(0)}});
  // 64 MB: more than the kernel buffers of a loopback connection hold by
  // default (4 MB to send and 32 MB to receive at most), so the frame cannot
  // be all written before the peer reads.
  auto img = pattern_image(4096, 4096, pixel_order::bgra);
  EXPECT_EQ(p.conn->write_image(img, share_pixels), image_status::sent);
  EXPECT_GT(img.use_count(), 1); // the engine writes from it, not from a copy
  auto body = p.read_frame();
  constexpr std::size_t headers = detail::native::header_size - detail::native::size_field +
                                  detail::native::image_header_size;
  ASSERT_EQ(body.size(), headers + img.size_bytes());
  EXPECT_EQ(body[0], static_cast<char>(detail::native::frame_kind::image));
  EXPECT_EQ(body[4 + 9], static_cast<char>(detail::native::wire_encoding::raw));
  EXPECT_EQ(std::memcmp(body.data() + headers, img.data(), img.size_bytes()), 0);
  // Written: the engine lets go, before any acknowledgement.
  EXPECT_TRUE(eventually([&] { return img.use_count() == 1; }));
}

std::string frame_of(std::string_view channel, const value& v) {
  std::string out;
  detail::native::append_value(out, channel, v);
  return out;
}

std::string raw_frame(std::string body) {
  std::string out(4, '\0');
  auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + body;
}

TEST(hand_written_frames, are_read_as_messages) {
  hand_peer p;
  p.peer.send(frame_of("speed", 3.5) + frame_of("caf\xc3\xa9", "x"));
  EXPECT_EQ(p.conn->wait_for("caf\xc3\xa9", patience), value("x"));
  EXPECT_EQ(p.conn->get("speed"), value(3.5));
  // And the hub writes frames back.
  p.conn->write("back", 1);
  auto body = p.read_frame();
  EXPECT_EQ(body, std::string("\x01\x00\x04\x00"
                              "back1",
                              9));
}

TEST(hand_written_frames, bad_frames_are_reported_and_the_connection_goes_on) {
  hand_peer p;
  std::string bad;
  bad += raw_frame(std::string("\x07\x00\x00\x00", 4));                    // unknown kind
  bad += raw_frame(std::string("\x01\x00\x01\x00" "a{", 6));               // invalid JSON
  bad += raw_frame(std::string("\x01\x00\x01\x00" "\xff" "1", 6));         // channel not UTF-8
  bad += raw_frame(std::string("\x01\x00\x01\x00" "a" "\"\xc3\"", 7));     // value not UTF-8
  bad += raw_frame(std::string("\x03\x00\x00\x00" "short", 9));            // image header cut
  bad += raw_frame(std::string("\x04\x00\x00\x00\x09", 5));                // unknown control
  bad += raw_frame(std::string("\x04\x00\x00\x00\x01\x01", 6));            // ack without a count
  p.peer.send(bad + frame_of("after", 1));
  EXPECT_EQ(p.conn->wait_for("after", patience), value(1));
  ASSERT_TRUE(eventually([&] { return p.error_count() == 7; }));
  std::lock_guard lk(p.mu);
  EXPECT_EQ(p.errors, (std::vector<std::error_code>{
                          errc::invalid_frame, errc::invalid_json, errc::invalid_utf8,
                          errc::invalid_utf8, errc::invalid_frame, errc::invalid_frame,
                          errc::invalid_frame}));
  EXPECT_TRUE(p.conn->is_open());
  EXPECT_EQ(p.conn->stats().errors, 7u);
}

TEST(hand_written_frames, a_frame_over_the_limit_closes_the_connection) {
  hand_peer p({.port = 0, .limits = {.max_line_bytes = 1000}});
  p.peer.send(frame_of("ok", 1));
  ASSERT_TRUE(p.conn->wait_for("ok", patience));
  // Only the size field is sent: the hub must refuse it from that alone,
  // without waiting for (or allocating) the 4 GiB it announces.
  p.peer.send(std::string("\xff\xff\xff\xff", 4));
  ASSERT_TRUE(eventually([&] { return !p.conn->is_open(); }));
  EXPECT_EQ(p.conn->close_reason(), errc::frame_too_large);
  ASSERT_TRUE(eventually([&] { return p.error_count() == 1; }));
  std::lock_guard lk(p.mu);
  EXPECT_EQ(p.errors[0], errc::frame_too_large);
}

TEST(hand_written_frames, an_image_over_max_pixels_is_refused_from_its_header) {
  hand_peer p({.port = 0, .images = {.max_pixels = 99}});
  auto frame = *detail::native::encode_image(pattern_image(10, 10, pixel_order::gray),
                                             image_encoding::raw, 1, 90);
  p.peer.send(frame + frame_of("after", 1));
  ASSERT_TRUE(p.conn->wait_for("after", patience));
  EXPECT_FALSE(p.conn->get_image());
  ASSERT_TRUE(eventually([&] { return p.error_count() == 1; }));
  std::lock_guard lk(p.mu);
  EXPECT_EQ(p.errors[0], errc::image_too_large);
}

TEST(credits, frames_in_flight_are_bounded_and_the_latest_pending_frame_wins) {
  hand_peer p({.port = 0, .images = {.encoding = image_encoding::raw, .max_frames_in_flight = 2}});
  auto f = [](unsigned i) { return pattern_image(4, 4, pixel_order::gray, i); };
  auto image_of = [](const std::string& body) {
    std::string detail;
    std::error_code ec;
    auto parsed = detail::native::parse_frame(
        {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}, nullptr, detail);
    EXPECT_TRUE(parsed) << detail;
    auto img = detail::native::decode_image(*parsed, 1 << 20, ec, detail);
    EXPECT_TRUE(img) << detail;
    return img.value_or(image());
  };
  EXPECT_EQ(p.conn->write_image(f(1)), image_status::sent);
  EXPECT_TRUE(p.conn->can_write_image());
  EXPECT_EQ(p.conn->write_image(f(2)), image_status::sent);
  EXPECT_FALSE(p.conn->can_write_image());
  EXPECT_EQ(p.conn->write_image(f(3)), image_status::pending);
  EXPECT_EQ(p.conn->write_image(f(4)), image_status::pending); // replaces f(3)
  EXPECT_EQ(image_of(p.read_frame()), f(1));
  EXPECT_EQ(image_of(p.read_frame()), f(2));
  // One credit back: the pending frame goes.
  std::string ack;
  detail::native::append_ack(ack, 1);
  p.peer.send(ack);
  EXPECT_EQ(image_of(p.read_frame()), f(4));
  EXPECT_FALSE(p.conn->can_write_image());
  // Two more: both slots free.
  ack.clear();
  detail::native::append_ack(ack, 2);
  p.peer.send(ack + frame_of("mark", 1));
  ASSERT_TRUE(p.conn->wait_for("mark", patience));
  EXPECT_TRUE(eventually([&] { return p.conn->can_write_image(); }));
}

TEST(credits, received_images_are_acknowledged_with_a_count) {
  hand_peer p;
  auto frame = *detail::native::encode_image(pattern_image(4, 4, pixel_order::gray),
                                             image_encoding::raw, 1, 90);
  p.peer.send(frame + frame + frame_of("after", 1));
  ASSERT_TRUE(p.conn->wait_for("after", patience));
  // One or more acknowledgements, counting two images in all.
  std::uint32_t acked = 0;
  while (acked < 2) {
    auto body = p.read_frame();
    ASSERT_EQ(body.size(), 9u);
    ASSERT_EQ(body.substr(0, 5), std::string("\x04\x00\x00\x00\x01", 5));
    acked += detail::native::load_u32(reinterpret_cast<const std::uint8_t*>(body.data() + 5));
  }
  EXPECT_EQ(acked, 2u);
}

TEST(hand_written_frames, closing_control_frame_closes_as_closing_did) {
  hand_peer p;
  std::string bye;
  detail::native::append_control(bye, detail::native::control_code::closing);
  p.peer.send(bye);
  ASSERT_TRUE(eventually([&] { return !p.conn->is_open(); }));
  EXPECT_EQ(p.conn->close_reason(), errc::peer_closing);
}

TEST(hand_written_frames, a_native_hub_closing_sends_the_closing_frame) {
  hand_peer p;
  p.conn->close();
  EXPECT_EQ(p.read_frame(), std::string("\x04\x00\x00\x00\x02", 5));
  EXPECT_TRUE(p.peer.wait_closed());
}

TEST(hand_written_frames, a_switch_nobody_offered_ends_the_connection) {
  hub h({.port = 0, .native = false});
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.send(R"({"type":"__native","data":{"switch":1}})" "\n");
  ASSERT_TRUE(eventually([&] { return !conn->is_open(); }));
  EXPECT_EQ(conn->close_reason(), errc::invalid_frame);
}

} // namespace
} // namespace socketengine
