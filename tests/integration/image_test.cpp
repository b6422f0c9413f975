// Images between engines: round trips, the seed's image calls, flow control
// (one image in flight, latest frame wins) and bad images from a peer.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "support/test_images.hpp"
#include "support/test_support.hpp"
#include "protocol/legacy/line_codec.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::base64_of;
using test::eventually;
using test::pattern_image;
using test::png_of;
using test::patience;

// Two hubs, `cam` dialled from `viewer`'s side: `out` writes, `in` reads.
struct hub_pair {
  explicit hub_pair(image_options images = {})
      : receiver({.port = 0, .images = images}), sender({.port = 0, .images = images}) {
    out = sender.connect("cam", "127.0.0.1", receiver.port());
    in = receiver.wait_for_connection(patience);
    EXPECT_TRUE(in);
  }
  hub receiver;
  hub sender;
  std::shared_ptr<connection> out;
  std::shared_ptr<connection> in;
};

// Sends `img` from `from` and returns what arrives at `to`.
std::optional<image> send_and_receive(connection& from, connection& to, const image& img) {
  EXPECT_TRUE(eventually([&] { return from.can_write_image(); }));
  auto before = to.image_version();
  EXPECT_EQ(from.write_image(img), image_status::sent);
  return to.wait_for_next_image(patience, before);
}

std::string image_line(const image& img, std::string_view channel = "__image") {
  std::string line;
  detail::legacy::append_image_line(line, channel, img, 1);
  return line;
}

// The image carried by a line read off the wire.
image decode_line_image(const std::string& line) {
  auto text = detail::legacy::match_image_line(line, "__image");
  if (!text) throw std::runtime_error("not an image line: " + line.substr(0, 80));
  std::error_code ec;
  std::string detail;
  auto img = detail::legacy::decode_image_data(*text, 1u << 25, ec, detail);
  if (!img) throw std::runtime_error("undecodable image: " + detail);
  return *img;
}

// --- round trips ----------------------------------------------------------------

using shape = test::image_shape;

class hub_round_trip : public ::testing::TestWithParam<shape> {};

TEST_P(hub_round_trip, arrives_with_identical_bytes_both_ways) {
  auto [w, h, order] = GetParam();
  hub_pair p;
  auto img = pattern_image(w, h, order, 1);
  auto there = send_and_receive(*p.out, *p.in, img);
  ASSERT_TRUE(there);
  EXPECT_EQ(*there, img);
  auto back_img = pattern_image(w, h, order, 2);
  auto back = send_and_receive(*p.in, *p.out, back_img);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, back_img);
}

INSTANTIATE_TEST_SUITE_P(
    sizes_and_channels, hub_round_trip,
    ::testing::Values(shape{1, 1, pixel_order::gray}, shape{1, 1, pixel_order::bgr},
                      shape{1, 1, pixel_order::bgra}, shape{641, 479, pixel_order::gray},
                      shape{641, 479, pixel_order::bgr}, shape{641, 479, pixel_order::bgra}),
    [](const auto& info) { return test::shape_name(info.param); });

TEST(images, get_image_is_empty_until_one_arrives_and_then_the_latest) {
  hub_pair p;
  EXPECT_FALSE(p.in->get_image());
  EXPECT_EQ(p.in->image_version(), 0u);
  EXPECT_FALSE(p.in->wait_for_image(10ms));
  auto first = pattern_image(8, 8, pixel_order::bgr, 1);
  auto second = pattern_image(8, 8, pixel_order::bgr, 2);
  ASSERT_TRUE(send_and_receive(*p.out, *p.in, first));
  auto v1 = p.in->image_version();
  EXPECT_GT(v1, 0u);
  ASSERT_TRUE(send_and_receive(*p.out, *p.in, second));
  EXPECT_GT(p.in->image_version(), v1);
  EXPECT_EQ(*p.in->get_image(), second);
  EXPECT_EQ(*p.in->wait_for_image(10ms), second);
  // Images are not values: nothing shows on the reserved channels.
  EXPECT_FALSE(p.in->get("__image"));
  EXPECT_FALSE(p.out->get("__ack"));
}

TEST(images, rgb_is_sent_as_such_and_arrives_as_bgr) {
  hub_pair p;
  auto rgb = pattern_image(4, 3, pixel_order::rgb);
  auto got = send_and_receive(*p.out, *p.in, rgb);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->order(), pixel_order::bgr);
  EXPECT_EQ(got->data()[0], rgb.data()[2]);
  EXPECT_EQ(got->data()[2], rgb.data()[0]);
}

TEST(images, empty_image_is_refused_and_closed_connection_reports) {
  hub_pair p;
  EXPECT_THROW(p.out->write_image(image()), std::invalid_argument);
  EXPECT_THROW(p.sender.write_image_all(image()), std::invalid_argument);
  hub alone({.port = 0}); // with no connection to skip it for
  EXPECT_THROW(alone.write_image_all(image()), std::invalid_argument);
  std::error_code ec;
  EXPECT_EQ(p.out->write_image(image(), ec), image_status::dropped);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  p.out->close();
  EXPECT_THROW(p.out->write_image(pattern_image(2, 2, pixel_order::gray)), std::system_error);
  EXPECT_EQ(p.out->write_image(pattern_image(2, 2, pixel_order::gray), ec), image_status::dropped);
  EXPECT_EQ(ec, errc::not_connected);
}

TEST(images, on_image_runs_on_the_callback_thread_with_the_image) {
  std::mutex mu; // before the hubs: their handlers may run until they are gone
  std::vector<image> seen;
  std::vector<std::string> names;
  hub_pair p;
  p.receiver.on_image([&](const std::shared_ptr<connection>& c, const image& img) {
    std::lock_guard lk(mu);
    seen.push_back(img);
    names.push_back(c->name());
  });
  auto img = pattern_image(16, 9, pixel_order::bgra);
  ASSERT_TRUE(send_and_receive(*p.out, *p.in, img));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !seen.empty();
  }));
  std::lock_guard lk(mu);
  EXPECT_EQ(seen.at(0), img);
  EXPECT_EQ(names.at(0), "cam");
}

// A peer that writes a picture and closes at once has sent it: the picture
// is delivered (decoded on the work thread after the close has been read),
// and only then the disconnect, in both protocols.
class image_then_close : public ::testing::TestWithParam<bool> {};

TEST_P(image_then_close, delivers_the_image_before_the_disconnect) {
  const bool native = GetParam();
  std::mutex mu; // before the hub: its handlers may run until it is gone
  std::vector<std::string> events;
  hub receiver({.port = 0, .native = native});
  receiver.on_image([&](const std::shared_ptr<connection>&, const image&) {
    std::lock_guard lk(mu);
    events.emplace_back("image");
  });
  receiver.on_disconnect([&](const std::shared_ptr<connection>&) {
    std::lock_guard lk(mu);
    events.emplace_back("disconnect");
  });
  // Large enough that its decode is still running when the close is read.
  const auto img = pattern_image(1280, 720, pixel_order::bgr);
  constexpr int rounds = 5;
  for (int i = 0; i < rounds; ++i) {
    hub sender({.listen = false, .native = native});
    auto out = sender.connect("cam", "127.0.0.1", receiver.port());
    ASSERT_EQ(out->write_image(img), image_status::sent);
    ASSERT_TRUE(out->flush(patience));
    sender.close();
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return events.size() >= 2 * rounds;
  })) << events.size() << " events";
  std::lock_guard lk(mu);
  for (std::size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i], i % 2 == 0 ? "image" : "disconnect") << "event " << i;
}

INSTANTIATE_TEST_SUITE_P(images, image_then_close, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "native" : "legacy"; });

// --- the seed's hub, host and client calls --------------------------------------

TEST(images, hub_write_image_calls_reach_the_connections_they_name) {
  hub centre({.port = 0});
  hub a({.port = 0});
  hub b({.port = 0});
  auto to_a = centre.connect("a", "127.0.0.1", a.port()); // local connections of centre
  auto b_conn = b.connect("b", "127.0.0.1", centre.port()); // a remote one
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  auto a_in = a.wait_for_connection(patience);
  ASSERT_TRUE(a_in);

  auto wait_all_acked = [&] {
    return eventually([&] {
      for (auto& c : centre.connections())
        if (!c->can_write_image()) return false;
      return true;
    });
  };
  auto img = pattern_image(5, 5, pixel_order::bgr, 1);
  EXPECT_EQ(centre.write_image_all(img), 2u);
  ASSERT_TRUE(a_in->wait_for_image(patience));
  ASSERT_TRUE(b_conn->wait_for_image(patience));
  ASSERT_TRUE(wait_all_acked());

  auto local = pattern_image(5, 5, pixel_order::bgr, 2);
  auto va = a_in->image_version();
  EXPECT_EQ(centre.write_image_to_local(local), 1u);
  EXPECT_EQ(*a_in->wait_for_next_image(patience, va), local);
  ASSERT_TRUE(wait_all_acked());

  auto remote = pattern_image(5, 5, pixel_order::bgr, 3);
  auto vb = b_conn->image_version();
  EXPECT_EQ(centre.write_image_to_remote(remote), 1u);
  EXPECT_EQ(*b_conn->wait_for_next_image(patience, vb), remote);
  ASSERT_TRUE(wait_all_acked());

  auto named = pattern_image(5, 5, pixel_order::bgr, 4);
  vb = b_conn->image_version();
  EXPECT_EQ(centre.write_image_to_name("b", named), 1u);
  EXPECT_EQ(centre.write_image_to_name("nobody", named), 0u);
  EXPECT_EQ(*b_conn->wait_for_next_image(patience, vb), named);
  // The local connection got neither of the last two.
  EXPECT_EQ(*a_in->get_image(), local);
}

TEST(images, host_and_clients_exchange_images_on_the_image_channel) {
  // Legacy host and clients, as the Node.js package's: between native
  // peers images travel as frames and leave no value on `image`.
  host h({.port = 0, .native = false});
  h.start();
  client c1({.port = h.port(), .native = false});
  client c2({.port = h.port(), .native = false});
  ASSERT_TRUE(h.wait_for_connections(2, patience));

  auto img = pattern_image(31, 7, pixel_order::bgr);
  EXPECT_EQ(h.write_image_all(img), 2u);
  ASSERT_TRUE(c1.wait_for_image(patience));
  ASSERT_TRUE(c2.wait_for_image(patience));
  EXPECT_EQ(*c1.get_image(), img);
  EXPECT_EQ(*c2.get_image(), img);
  // As the Node.js client keeps it: the base64 PNG as the value on `image`.
  auto text = c1.get("image");
  ASSERT_TRUE(text && text->is_string());
  EXPECT_EQ(text->get<std::string>().rfind("iVBORw0KGgo", 0), 0u);

  auto up = pattern_image(3, 3, pixel_order::gray);
  ASSERT_TRUE(eventually([&] { return c1.connection()->can_write_image(); }));
  EXPECT_EQ(c1.write_image(up), image_status::sent);
  ASSERT_TRUE(eventually([&] {
    for (auto& c : h.clients())
      if (auto got = c->get_image(); got && *got == up) return true;
    return false;
  }));
}

TEST(images, host_client_images_need_no_acknowledgement) {
  // The Node.js host and client never acknowledge: the next image goes as
  // soon as the previous one is written.
  host h({.port = 0});
  h.start();
  client c({.port = h.port()});
  auto to_client = h.wait_for_connection(patience);
  ASSERT_TRUE(to_client);
  for (unsigned i = 0; i < 5; ++i) {
    auto img = pattern_image(9, 9, pixel_order::bgr, i);
    ASSERT_TRUE(eventually([&] { return to_client->can_write_image(); }));
    auto before = c.connection()->image_version();
    EXPECT_EQ(to_client->write_image(img), image_status::sent);
    EXPECT_EQ(*c.connection()->wait_for_next_image(patience, before), img);
  }
  EXPECT_FALSE(c.connection()->get("__ack"));
}

// --- flow control ---------------------------------------------------------------

// A hub and a raw peer standing in for a hub that dialled it: the test
// decides when the peer acknowledges.
struct raw_pair {
  explicit raw_pair(image_options images = {}) : h({.port = 0, .images = images}) {
    peer.connect(h.port());
    peer.send(R"({"type": "__name_conn", "data": "raw"})" "\n");
    conn = h.wait_for_connection(patience);
    EXPECT_TRUE(conn);
    EXPECT_TRUE(eventually([&] { return conn->name() == "raw"; }));
    peer.expect_native_offer(); // a legacy peer never answers it
  }
  hub h;
  test::raw_peer peer;
  std::shared_ptr<connection> conn;
};

TEST(flow_control, one_image_in_flight_and_the_latest_pending_frame_wins) {
  raw_pair p;
  auto f1 = pattern_image(6, 6, pixel_order::bgr, 1);
  auto f2 = pattern_image(6, 6, pixel_order::bgr, 2);
  auto f3 = pattern_image(6, 6, pixel_order::bgr, 3);
  EXPECT_TRUE(p.conn->can_write_image());
  EXPECT_EQ(p.conn->write_image(f1), image_status::sent);
  EXPECT_FALSE(p.conn->can_write_image());
  EXPECT_EQ(p.conn->write_image(f2), image_status::pending);
  EXPECT_EQ(p.conn->write_image(f3), image_status::pending);
  EXPECT_FALSE(p.conn->wait_for_image_slot(0ms));
  p.conn->write("marker", 1);

  // f2 and f3 were written before the marker; neither may pass it.
  EXPECT_EQ(decode_line_image(p.peer.read_line()), f1);
  EXPECT_EQ(p.peer.read_line(), R"({"type":"marker","data":1})");

  p.peer.send(R"({"type": "__ack", "data": "__ack"})" "\n");
  EXPECT_EQ(decode_line_image(p.peer.read_line()), f3); // f2 was replaced
  EXPECT_TRUE(p.conn->wait_for_image_slot(patience));
  EXPECT_FALSE(p.conn->can_write_image()); // f3 is in flight
  p.conn->write("marker", 2);
  EXPECT_EQ(p.peer.read_line(), R"({"type":"marker","data":2})");

  p.peer.send(R"({"type": "__ack", "data": "__ack"})" "\n");
  EXPECT_TRUE(eventually([&] { return p.conn->can_write_image(); }));
  // A stray acknowledgement changes nothing (the value behind it shows
  // when the hub has read it).
  p.peer.send(R"({"type": "__ack", "data": "__ack"})" "\n" R"({"type": "read", "data": 1})" "\n");
  ASSERT_TRUE(p.conn->wait_for("read", patience));
  EXPECT_EQ(p.conn->write_image(f2), image_status::sent);
  EXPECT_EQ(decode_line_image(p.peer.read_line()), f2);
  EXPECT_EQ(p.conn->write_image(f1), image_status::pending);
}

TEST(flow_control, without_latest_frame_wins_a_busy_connection_drops_frames) {
  raw_pair p({.latest_frame_wins = false});
  auto f1 = pattern_image(6, 6, pixel_order::gray, 1);
  auto f2 = pattern_image(6, 6, pixel_order::gray, 2);
  EXPECT_EQ(p.conn->write_image(f1), image_status::sent);
  EXPECT_EQ(p.conn->write_image(f2), image_status::dropped);
  EXPECT_EQ(p.h.write_image_all(f2), 0u);
  EXPECT_TRUE(p.conn->wait_for_image_slot(0ms)); // nothing is pending
  EXPECT_EQ(decode_line_image(p.peer.read_line()), f1);
  p.peer.send(R"({"type":"__ack","data":"__ack"})" "\n");
  EXPECT_TRUE(eventually([&] { return p.conn->can_write_image(); }));
  p.conn->write("marker", 1);
  EXPECT_EQ(p.peer.read_line(), R"({"type":"marker","data":1})"); // f2 never went
}

TEST(flow_control, a_fast_producer_never_has_two_images_in_flight) {
  // The peer checks the rule on the wire: after each image, it lets the
  // producer run ahead, then reads everything the hub sent up to the
  // producer's latest marker, and only then acknowledges. A second image
  // sent before the acknowledgement would be among those lines.
  raw_pair p;
  std::atomic<bool> stop{false};
  std::atomic<long long> written{0};
  std::thread producer([&] {
    for (long long i = 0; !stop; ++i) {
      std::error_code ec;
      p.conn->write_image(pattern_image(32, 24, pixel_order::bgr, static_cast<unsigned>(i)), ec);
      if (ec) break;
      p.conn->write("frame", i); // a marker behind each write
      ++written;
    }
  });
  // Stops the producer however the test ends (an ASSERT returns early).
  struct stopper {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~stopper() {
      stop = true;
      thread.join();
    }
  } stop_producer{stop, producer};
  const std::string marker = R"({"type":"frame","data":)";
  // The marker's number, or -1 for any other line.
  auto marker_of = [&](const std::string& line) -> long long {
    if (line.rfind(marker, 0) != 0) return -1;
    return std::stoll(line.substr(marker.size()));
  };
  unsigned images = 0;
  while (images < 20) {
    auto line = p.peer.read_line();
    if (line.find("\"__image\"") == std::string::npos) continue;
    ++images;
    auto seen = written.load();
    ASSERT_TRUE(eventually([&] { return written.load() >= seen + 3; }));
    // Marker `last` went after the producer's write of image `last`: any
    // image the hub sent for it, or before it, is on the wire by then.
    long long last = written.load() - 1;
    for (long long at = -1; at < last;) {
      line = p.peer.read_line();
      ASSERT_EQ(line.find("\"__image\""), std::string::npos)
          << "a second image arrived before the acknowledgement (image " << images << ")";
      at = std::max(at, marker_of(line));
    }
    p.peer.send(R"({"type":"__ack","data":"__ack"})" "\n");
  }
}

TEST(flow_control, a_stream_between_hubs_ends_on_the_newest_frame) {
  hub_pair p;
  image last;
  for (unsigned i = 0; i < 40; ++i) {
    last = pattern_image(64, 48, pixel_order::bgr, i);
    EXPECT_NE(p.out->write_image(last), image_status::dropped);
  }
  ASSERT_TRUE(eventually([&] {
    auto got = p.in->get_image();
    return got && *got == last;
  }));
  EXPECT_TRUE(eventually([&] { return p.out->can_write_image(); }));
}

TEST(flow_control, early_acknowledgements_wait_for_the_image_to_be_written) {
  // A peer that reads slowly (a small receive buffer, and not reading yet)
  // and acknowledges before it has the image must not make the hub send
  // the next frame while the first is still being written.
  hub h({.port = 0});
  test::raw_peer peer;
  peer.socket().open(asio::ip::tcp::v4());
  peer.socket().set_option(asio::socket_base::receive_buffer_size(64 * 1024));
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.expect_native_offer();

  // Noise does not compress: a line of about 10 MB, more than the kernel
  // buffers between the two sockets hold.
  image big(2000, 1200, pixel_order::bgr);
  std::uint32_t x = 12345;
  for (auto& b : big.pixels()) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  auto f2 = pattern_image(8, 8, pixel_order::bgr, 2);
  auto f3 = pattern_image(8, 8, pixel_order::bgr, 3);
  EXPECT_EQ(conn->write_image(big), image_status::sent);
  EXPECT_EQ(conn->write_image(f2), image_status::pending);
  std::string acks;
  for (int i = 0; i < 5; ++i) acks += R"({"type":"__ack","data":"__ack"})" "\n";
  peer.send(acks + R"({"type":"read","data":1})" "\n");
  ASSERT_TRUE(conn->wait_for("read", patience));
  // The acknowledgements are in, the big frame is not out: f2 still waits.
  EXPECT_FALSE(conn->wait_for_image_slot(0ms));
  EXPECT_EQ(conn->write_image(f3), image_status::pending);

  EXPECT_EQ(decode_line_image(peer.read_line()), big);
  // Once it was written, the early acknowledgement counted (once): f3 went.
  EXPECT_EQ(decode_line_image(peer.read_line()), f3);
  EXPECT_FALSE(conn->can_write_image());
  conn->write("marker", 1);
  EXPECT_EQ(peer.read_line(), R"({"type":"marker","data":1})");
  peer.send(R"({"type":"__ack","data":"__ack"})" "\n");
  EXPECT_TRUE(eventually([&] { return conn->can_write_image(); }));
}

// --- bad images from a peer -------------------------------------------------------

struct bad_image {
  const char* name;
  std::string data; // the JSON value after "data":
  errc expected;
};

class refused_image : public ::testing::TestWithParam<bad_image> {};

TEST_P(refused_image, is_reported_acknowledged_and_the_connection_goes_on) {
  std::mutex mu; // before the hub: its error handler may run until the hub is gone
  std::vector<std::error_code> errors;
  raw_pair p;
  p.h.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    std::lock_guard lk(mu);
    errors.push_back(ec);
  });
  p.peer.send(R"({"type": "__image", "data": )" + GetParam().data + "}\n");
  EXPECT_EQ(p.peer.read_line(), R"({"type":"__ack","data":"__ack"})");
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !errors.empty();
  }));
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(errors.at(0), GetParam().expected);
  }
  EXPECT_EQ(p.conn->stats().errors, 1u);
  EXPECT_FALSE(p.conn->get_image());
  EXPECT_TRUE(p.conn->is_open());

  auto good = pattern_image(7, 5, pixel_order::bgr);
  p.peer.send(image_line(good));
  ASSERT_TRUE(p.conn->wait_for_image(patience));
  EXPECT_EQ(*p.conn->get_image(), good);
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

INSTANTIATE_TEST_SUITE_P(
    bad_inputs, refused_image,
    ::testing::Values(
        bad_image{"bad_base64", quoted("this is not base64!"), errc::invalid_base64},
        bad_image{"not_a_string", "[1, 2, 3]", errc::invalid_base64},
        bad_image{"not_a_png", quoted(base64_of("GIF89a, or anything else")), errc::invalid_image},
        bad_image{"truncated_png",
                  quoted(base64_of(png_of(pattern_image(40, 40, pixel_order::bgr)).substr(0, 200))),
                  errc::invalid_image},
        bad_image{"huge_png", quoted(base64_of(test::png_claiming(100'000, 100'000))), errc::image_too_large}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(images, escaped_and_reordered_image_lines_take_the_general_path) {
  raw_pair p;
  auto img = pattern_image(9, 4, pixel_order::bgr);
  auto text = base64_of(png_of(img));
  // JSON lets any character be written as a \u escape (and "/" as "\/"):
  // a valid encoder may write them. Every PNG's base64 starts "iVBORw0KGgoA".
  std::string escaped;
  for (char ch : text) escaped += ch == 'A' ? std::string("\\u0041") : std::string(1, ch);
  ASSERT_NE(escaped, text);
  p.peer.send(R"({"data": ")" + escaped + R"(", "type": "__image"})" "\n");
  ASSERT_TRUE(p.conn->wait_for_image(patience));
  EXPECT_EQ(*p.conn->get_image(), img);
  EXPECT_EQ(p.peer.read_line(), R"({"type":"__ack","data":"__ack"})");
}

TEST(images, a_closed_connection_lets_go_of_its_image) {
  hub_pair p;
  auto img = pattern_image(32, 32, pixel_order::bgr);
  auto kept = send_and_receive(*p.out, *p.in, img);
  ASSERT_TRUE(kept);
  p.out->close();
  // It lets go as the close completes, a moment after is_open() turns false.
  ASSERT_TRUE(eventually([&] { return !p.in->is_open() && !p.in->get_image(); }));
  EXPECT_FALSE(p.in->wait_for_image(10ms));
  EXPECT_EQ(*kept, img); // what a reader took stays valid
}

TEST(images, a_host_refuses_image_text_that_is_not_utf8) {
  std::mutex mu; // before the host: its error handler may run until the host is gone
  std::vector<std::error_code> errors;
  host h({.port = 0});
  h.start();
  h.on_error([&](const std::shared_ptr<connection>&, std::error_code ec, const std::string&) {
    std::lock_guard lk(mu);
    errors.push_back(ec);
  });
  test::raw_peer peer;
  peer.connect(h.port());
  auto conn = h.wait_for_connection(patience);
  ASSERT_TRUE(conn);
  peer.send("{\"type\":\"image\",\"data\":\"\xff\x01A\"}\n{\"type\":\"after\",\"data\":1}\n");
  ASSERT_TRUE(conn->wait_for("after", patience));
  EXPECT_FALSE(conn->get("image"));
  EXPECT_FALSE(conn->get_image());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !errors.empty();
  }));
  std::lock_guard lk(mu);
  EXPECT_EQ(errors.at(0), errc::invalid_utf8);
}

TEST(images, limits_come_from_the_options) {
  raw_pair p({.max_pixels = 99});
  p.peer.send(image_line(pattern_image(10, 10, pixel_order::gray)));
  EXPECT_EQ(p.peer.read_line(), R"({"type":"__ack","data":"__ack"})");
  ASSERT_TRUE(eventually([&] { return p.conn->stats().errors == 1; }));
  EXPECT_FALSE(p.conn->get_image());
  auto small = pattern_image(9, 11, pixel_order::gray);
  p.peer.send(image_line(small));
  ASSERT_TRUE(p.conn->wait_for_image(patience));
  EXPECT_EQ(*p.conn->get_image(), small);
}

} // namespace
} // namespace socketengine
