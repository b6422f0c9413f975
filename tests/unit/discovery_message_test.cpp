// The discovery datagrams (src/discovery/message.hpp): what is written
// reads back; what is not a valid query or answer is refused, never thrown
// at the caller; fields a later version may add are ignored.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "discovery/message.hpp"

namespace socketengine::detail::discovery {
namespace {

answer sample() {
  answer a;
  a.name = "arm-7";
  a.id = "0123456789abcdef0123456789abcdef";
  a.protocol = 1;
  a.port = 8080;
  a.tls = true;
  a.addresses = {"10.0.0.2", "fd00::2"};
  return a;
}

TEST(discovery_message, a_query_reads_back_with_and_without_a_name) {
  auto any = parse_query(encode(query{}));
  ASSERT_TRUE(any);
  EXPECT_EQ(any->name, "");
  auto named = parse_query(encode(query{"robot ü"}));
  ASSERT_TRUE(named);
  EXPECT_EQ(named->name, "robot ü");
}

TEST(discovery_message, an_answer_reads_back_field_for_field) {
  auto a = parse_answer(encode(sample()));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "arm-7");
  EXPECT_EQ(a->id, sample().id);
  EXPECT_EQ(a->protocol, 1);
  EXPECT_EQ(a->port, 8080);
  EXPECT_TRUE(a->tls);
  EXPECT_FALSE(a->token);
  EXPECT_EQ(a->addresses, sample().addresses);
}

TEST(discovery_message, a_query_and_an_answer_are_not_taken_for_each_other) {
  EXPECT_FALSE(parse_answer(encode(query{})));
  EXPECT_FALSE(parse_query(encode(sample())));
}

TEST(discovery_message, later_versions_are_read_for_the_fields_known) {
  auto q = parse_query(R"({"socketengine":"discover","version":3,"name":"x","filter":[1,2]})");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->name, "x");
}

TEST(discovery_message, malformed_datagrams_are_refused) {
  const char* bad_queries[] = {
      "",
      "{",
      "[]",
      "null",
      R"({"socketengine":"discover"})",
      R"({"socketengine":"discover","version":0})",
      R"({"socketengine":"discover","version":"1"})",
      R"({"socketengine":"discover","version":1,"name":5})",
      R"({"socketengine":"discover","version":1,"name":"a\u0001b"})",
      R"({"socketengine":"other","version":1})",
      R"({"socketengine":"discover","version":1,"name":"\xff"})",
  };
  for (const char* d : bad_queries) EXPECT_FALSE(parse_query(d)) << d;
  EXPECT_FALSE(parse_query(std::string(max_datagram + 1, ' ')));

  auto with = [](const std::string& key, const std::string& json_value) {
    auto j = encode(sample());
    auto at = j.find("\"" + key + "\":");
    EXPECT_NE(at, std::string::npos) << key;
    auto start = at + key.size() + 3;
    // Replaces the value: up to the next top-level comma or the end.
    int depth = 0;
    auto end = start;
    for (; end < j.size(); ++end) {
      char c = j[end];
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') {
        if (depth == 0) break;
        --depth;
      }
      if (c == ',' && depth == 0) break;
    }
    return j.substr(0, start) + json_value + j.substr(end);
  };
  const std::pair<const char*, const char*> bad_answers[] = {
      {"port", "0"},          {"port", "70000"},        {"port", "-1"},
      {"port", "\"80\""},     {"id", "\"xyz\""},        {"id", "\"0123\""},
      {"name", "\"\""},       {"name", "7"},            {"protocol", "-1"},
      {"tls", "1"},           {"addresses", "\"1.2.3.4\""}, {"addresses", "[\"host.local\"]"},
      {"addresses", "[1]"},   {"token", "\"yes\""},
      {"addresses", "[\"10.0.0.1\\u0000junk\"]"},
  };
  // The same edit with good values reads: what fails below fails for its value.
  ASSERT_TRUE(parse_answer(with("port", "8081")));
  ASSERT_TRUE(parse_answer(with("addresses", "[\"192.168.1.9\"]")));
  for (auto [key, v] : bad_answers) {
    auto text = with(key, v);
    EXPECT_FALSE(parse_answer(text)) << text;
  }
  std::string many = "[";
  for (std::size_t i = 0; i <= max_addresses; ++i) many += (i ? ",\"10.0.0." : "\"10.0.0.") + std::to_string(i) + "\"";
  many += "]";
  EXPECT_FALSE(parse_answer(with("addresses", many)));
}

TEST(discovery_message, ids_are_32_hex_digits_and_differ) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto id = make_id();
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(discovery_message, names_are_checked) {
  EXPECT_TRUE(valid_name("robot"));
  EXPECT_TRUE(valid_name(std::string(max_name_bytes, 'n')));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name(std::string(max_name_bytes + 1, 'n')));
  EXPECT_FALSE(valid_name("new\nline"));
  EXPECT_FALSE(valid_name("\xc3"));
}

} // namespace
} // namespace socketengine::detail::discovery
