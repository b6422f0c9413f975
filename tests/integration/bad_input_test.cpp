// Bad input from one peer: reported, counted, dropped, and never felt by
// the other connections.

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::patience;

struct reported {
  std::shared_ptr<connection> conn;
  std::error_code ec;
  std::string detail;
};

// A hub with one well-behaved peer hub and one raw peer that sends what the
// test says, recording every error the hub reports.
struct fixture {
  explicit fixture(limits lim = {}) : centre({.port = 0, .limits = lim}), good({.port = 0}) {
    centre.on_error([this](const std::shared_ptr<connection>& c, std::error_code ec,
                           const std::string& detail) {
      std::lock_guard lk(mu);
      errors.push_back({c, ec, detail});
    });
    good_conn = good.connect("good", "127.0.0.1", centre.port());
    EXPECT_TRUE(centre.wait_for_connections(1, patience));
    raw.connect(centre.port());
    EXPECT_TRUE(centre.wait_for_connections(2, patience));
    bad_conn = centre.connections().at(1);
  }

  std::vector<reported> errors_so_far() {
    std::lock_guard lk(mu);
    return errors;
  }

  // The good peer still gets through, on the centre's side.
  void expect_good_peer_unaffected(int marker) {
    good_conn->write("marker", marker);
    EXPECT_EQ(centre.connections().at(0)->wait_for("marker", patience).value_or(-1), marker);
    EXPECT_TRUE(centre.connections().at(0)->is_open());
    EXPECT_EQ(centre.connections().at(0)->stats().errors, 0u);
  }

  // Declared first so they outlive the hub whose error handler fills them.
  std::mutex mu;
  std::vector<reported> errors;
  hub centre;
  hub good;
  std::shared_ptr<connection> good_conn;
  test::raw_peer raw;
  std::shared_ptr<connection> bad_conn;
};

struct bad_line {
  const char* name;
  std::string bytes;
  errc expected;
};

class dropped_line : public ::testing::TestWithParam<bad_line> {};

TEST_P(dropped_line, is_reported_counted_and_dropped_while_the_connection_goes_on) {
  fixture f;
  const auto& p = GetParam();
  f.raw.send(p.bytes + "\n");
  f.raw.send("{\"type\":\"after\",\"data\":1}\n");
  ASSERT_EQ(f.bad_conn->wait_for("after", patience), value(1));
  EXPECT_TRUE(f.bad_conn->is_open());
  EXPECT_EQ(f.bad_conn->stats().errors, 1u);
  EXPECT_EQ(f.bad_conn->stats().messages_in, 1u);
  ASSERT_TRUE(eventually([&] { return f.errors_so_far().size() == 1; }));
  auto e = f.errors_so_far().at(0);
  EXPECT_EQ(e.ec, p.expected) << e.ec.message();
  EXPECT_EQ(e.conn, f.bad_conn);
  EXPECT_FALSE(e.detail.empty());
  f.expect_good_peer_unaffected(7);
}

INSTANTIATE_TEST_SUITE_P(
    bad_input, dropped_line,
    ::testing::Values(
        bad_line{"invalid_json", "{\"type\":\"x\",\"data\":", errc::invalid_json},
        bad_line{"garbage", "\x01\x02 not json at all", errc::invalid_json},
        bad_line{"missing_type", "{\"data\":1}", errc::missing_key},
        bad_line{"missing_data", "{\"type\":\"x\"}", errc::missing_key},
        bad_line{"not_an_object", "[1,2,3]", errc::invalid_message},
        bad_line{"type_not_string", "{\"type\":1,\"data\":1}", errc::invalid_message},
        bad_line{"invalid_utf8", "{\"type\":\"x\",\"data\":\"\xff\xfe\"}", errc::invalid_utf8},
        bad_line{"too_deep", "{\"type\":\"x\",\"data\":" + std::string(10000, '[') +
                                 std::string(10000, ']') + "}",
                 errc::too_deep}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(bad_input, line_longer_than_the_limit_closes_only_that_connection) {
  fixture f({.max_line_bytes = 1024});
  f.raw.send("{\"type\":\"x\",\"data\":\"" + std::string(4096, 'a'));
  ASSERT_TRUE(eventually([&] { return !f.bad_conn->is_open(); }));
  EXPECT_EQ(f.bad_conn->close_reason(), errc::line_too_long);
  EXPECT_TRUE(f.raw.wait_closed());
  ASSERT_TRUE(eventually([&] { return !f.errors_so_far().empty(); }));
  EXPECT_EQ(f.errors_so_far().at(0).ec, errc::line_too_long);
  f.expect_good_peer_unaffected(8);
}

TEST(bad_input, endless_line_without_newline_is_cut_off_at_the_limit) {
  fixture f({.max_line_bytes = 64 * 1024});
  std::string chunk(8192, 'b');
  std::error_code ec;
  // Keep sending until the hub hangs up; it must not buffer forever.
  for (int i = 0; i < 10000 && !ec; ++i)
    asio::write(f.raw.socket(), asio::buffer(chunk), ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(f.bad_conn->close_reason(), errc::line_too_long);
  EXPECT_LE(f.bad_conn->stats().bytes_in, 64u * 1024 + 2 * 8192 + 65536);
  f.expect_good_peer_unaffected(9);
}

TEST(bad_input, new_channels_past_the_limit_are_dropped) {
  fixture f({.max_channels = 3});
  for (int i = 0; i < 5; ++i)
    f.raw.send("{\"type\":\"c" + std::to_string(i) + "\",\"data\":" + std::to_string(i) + "}\n");
  f.raw.send("{\"type\":\"c0\",\"data\":\"again\"}\n");
  ASSERT_TRUE(eventually([&] { return f.bad_conn->get("c0") == value("again"); }));
  EXPECT_EQ(f.bad_conn->get("c2"), value(2));
  EXPECT_EQ(f.bad_conn->get("c3"), std::nullopt);
  // Both drops counted, the first reported, naming the option to raise.
  EXPECT_EQ(f.bad_conn->stats().errors, 2u);
  ASSERT_TRUE(eventually([&] { return !f.errors_so_far().empty(); }));
  EXPECT_EQ(f.errors_so_far()[0].ec, errc::too_many_channels);
  EXPECT_NE(f.errors_so_far()[0].detail.find("limits.max_channels"), std::string::npos)
      << f.errors_so_far()[0].detail;
  EXPECT_TRUE(f.bad_conn->is_open());
  f.expect_good_peer_unaffected(10);
  EXPECT_EQ(f.errors_so_far().size(), 1u) << "later drops are counted, not reported again";
}

TEST(bad_input, a_peer_at_the_channel_limit_can_still_name_itself_and_say_it_is_closing) {
  // docs/legacy-protocol.md: the reserved channels do not count against
  // max_channels, so a peer that has used them all is not cut off from the
  // protocol's own lines.
  fixture f({.max_channels = 3});
  for (int i = 0; i < 3; ++i)
    f.raw.send("{\"type\":\"c" + std::to_string(i) + "\",\"data\":" + std::to_string(i) + "}\n");
  ASSERT_EQ(f.bad_conn->wait_for("c2", patience), value(2));
  f.raw.send(R"({"type":"__name_conn","data":"late"})" "\n"
             R"({"type":"__status","data":"__closing"})" "\n");
  ASSERT_TRUE(eventually([&] { return f.bad_conn->get("__status").has_value(); }));
  EXPECT_EQ(f.bad_conn->get("__name_conn"), value("late"));
  EXPECT_EQ(f.bad_conn->name(), "late");
  EXPECT_EQ(f.bad_conn->get("__status"), value("__closing"));
  EXPECT_EQ(f.bad_conn->stats().errors, 0u);
  EXPECT_TRUE(f.errors_so_far().empty());
}

TEST(bad_input, blank_lines_and_crlf_are_not_errors) {
  fixture f;
  f.raw.send("\n\r\n  \n{\"type\":\"x\",\"data\":2}\r\n");
  ASSERT_EQ(f.bad_conn->wait_for("x", patience), value(2));
  EXPECT_EQ(f.bad_conn->stats().errors, 0u);
}

TEST(bad_input, a_burst_of_bad_lines_is_counted_one_by_one) {
  fixture f;
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += "not json\n";
  f.raw.send(burst + "{\"type\":\"end\",\"data\":0}\n");
  ASSERT_TRUE(f.bad_conn->wait_for("end", patience));
  EXPECT_EQ(f.bad_conn->stats().errors, 1000u);
  ASSERT_TRUE(eventually([&] { return f.errors_so_far().size() == 1000; }));
  f.expect_good_peer_unaffected(11);
}

} // namespace
} // namespace socketengine
