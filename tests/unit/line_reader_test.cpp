#include "protocol/legacy/line_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace socketengine::detail::legacy {
namespace {

// Feeds `bytes` as one read (split further if prepare() offers less) and
// collects the complete lines.
bool feed(line_reader& r, std::string_view bytes, std::vector<std::string>& lines) {
  while (!bytes.empty()) {
    auto space = r.prepare();
    std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    r.commit(n);
    bytes.remove_prefix(n);
    if (!r.consume([&](std::string_view line) { lines.emplace_back(line); })) return false;
  }
  return true;
}

const std::string stream = R"({"type": "a", "data": "b"})"
                           "\n"
                           R"({"type":"speed","data":3.5})"
                           "\n\n"
                           R"({"data":[1,2,{"x":null}],"type":"caf\u00e9"})"
                           "\n"
                           "{\"type\":\"caf\xc3\xa9\",\"data\":\"\xe2\x82\xac\"}\n";

std::vector<std::string> expected_lines() {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < stream.size(); ++i)
    if (stream[i] == '\n') {
      out.push_back(stream.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

TEST(line_reader, whole_stream_in_one_read_yields_every_line) {
  line_reader r(1024, 16);
  std::vector<std::string> lines;
  ASSERT_TRUE(feed(r, stream, lines));
  EXPECT_EQ(lines, expected_lines());
  EXPECT_EQ(r.pending(), 0u);
}

TEST(line_reader, split_at_every_byte_offset_yields_the_same_lines) {
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    line_reader r(1024, 16);
    std::vector<std::string> lines;
    ASSERT_TRUE(feed(r, std::string_view(stream).substr(0, cut), lines));
    ASSERT_TRUE(feed(r, std::string_view(stream).substr(cut), lines));
    EXPECT_EQ(lines, expected_lines()) << "cut at " << cut;
  }
}

TEST(line_reader, split_at_every_pair_of_offsets_yields_the_same_lines) {
  for (std::size_t a = 0; a <= stream.size(); ++a)
    for (std::size_t b = a; b <= stream.size(); ++b) {
      line_reader r(1024, 4);
      std::vector<std::string> lines;
      std::string_view s(stream);
      ASSERT_TRUE(feed(r, s.substr(0, a), lines));
      ASSERT_TRUE(feed(r, s.substr(a, b - a), lines));
      ASSERT_TRUE(feed(r, s.substr(b), lines));
      ASSERT_EQ(lines, expected_lines()) << "cuts at " << a << ", " << b;
    }
}

TEST(line_reader, one_byte_reads_yield_the_same_lines) {
  line_reader r(1024, 1);
  std::vector<std::string> lines;
  for (char c : stream) ASSERT_TRUE(feed(r, std::string_view(&c, 1), lines));
  EXPECT_EQ(lines, expected_lines());
}

TEST(line_reader, many_lines_in_one_read) {
  std::string many;
  for (int i = 0; i < 10000; ++i) many += "{\"type\":\"n\",\"data\":" + std::to_string(i) + "}\n";
  line_reader r(1024, 4096);
  std::vector<std::string> lines;
  ASSERT_TRUE(feed(r, many, lines));
  ASSERT_EQ(lines.size(), 10000u);
  EXPECT_EQ(lines.back(), "{\"type\":\"n\",\"data\":9999}");
}

TEST(line_reader, line_of_exactly_the_limit_passes) {
  line_reader r(100, 16);
  std::vector<std::string> lines;
  ASSERT_TRUE(feed(r, std::string(100, 'x') + "\n", lines));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), 100u);
}

TEST(line_reader, unfinished_line_past_the_limit_is_refused_before_its_newline) {
  line_reader r(100, 16);
  std::vector<std::string> lines;
  EXPECT_TRUE(feed(r, std::string(100, 'x'), lines));
  EXPECT_FALSE(feed(r, "x", lines));
  EXPECT_TRUE(lines.empty());
}

TEST(line_reader, complete_line_past_the_limit_in_one_read_is_refused) {
  line_reader r(100, 4096);
  std::vector<std::string> lines;
  EXPECT_FALSE(feed(r, "ok\n" + std::string(101, 'x') + "\n", lines));
  EXPECT_EQ(lines, std::vector<std::string>{"ok"});
}

TEST(line_reader, buffer_stays_bounded_by_the_limit_under_a_flood) {
  // A peer that never sends '\n' must not grow memory past the limit.
  line_reader r(64 * 1024, 4096);
  std::vector<std::string> lines;
  std::string chunk(4096, 'y');
  bool ok = true;
  for (int i = 0; i < 1000 && ok; ++i) ok = feed(r, chunk, lines);
  EXPECT_FALSE(ok);
  EXPECT_LE(r.capacity(), 64u * 1024 + 1 + 4096);
}

TEST(line_reader, a_line_of_megabytes_keeps_every_byte_as_its_buffer_grows) {
  // Growth past byte_buffer::mapped_from remaps pages: what arrived before
  // each doubling must still be there, after a short line that leaves the
  // long one starting part way into the buffer.
  line_reader r(16u << 20, 4096);
  std::string big(6u << 20, '\0');
  std::uint32_t x = 12345;
  for (auto& c : big) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>('a' + (x >> 16) % 26);
  }
  std::string bytes = "short\n" + big + "\nafter\n";
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < bytes.size(); at += 65536)
    ASSERT_TRUE(feed(r, std::string_view(bytes).substr(at, 65536), lines));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "short");
  EXPECT_TRUE(lines[1] == big) << "the long line came out changed";
  EXPECT_EQ(lines[2], "after");
}

TEST(line_reader, large_buffer_is_given_back_when_idle) {
  line_reader r(8u << 20, 4096);
  std::vector<std::string> lines;
  ASSERT_TRUE(feed(r, std::string(1u << 20, 'z') + "\n", lines));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_GT(r.capacity(), 1u << 20);
  r.shrink_if_idle();
  EXPECT_EQ(r.capacity(), 0u);
}

} // namespace
} // namespace socketengine::detail::legacy

namespace socketengine::detail::legacy {
namespace {

TEST(line_reader, an_unfinished_line_grows_only_within_the_budget) {
  memory_budget budget(100'000);
  {
    line_reader r(1 << 20, 4096, &budget);
    std::string chunk(4096, 'a');
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {
      try {
        auto space = r.prepare();
        auto n = std::min(space.size(), chunk.size());
        std::memcpy(space.data(), chunk.data(), n);
        r.commit(n);
        EXPECT_EQ(budget.used(), r.capacity());
      } catch (const over_budget&) {
        refused = true;
      }
    }
    EXPECT_TRUE(refused);
    EXPECT_LE(budget.used(), budget.limit());
    EXPECT_GT(r.pending(), 30'000u); // it got some way first
  }
  EXPECT_EQ(budget.used(), 0u);
}

} // namespace
} // namespace socketengine::detail::legacy
