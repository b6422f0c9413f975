// Token authentication's parts: the proof against a vector computed apart
// (openssl dgst -sha256 -mac HMAC), proofs that differ with every input,
// the comparison, the nonces an engine remembers, and where a token comes
// from (given, a file, a variable) with the errors a user can make.

#include "protocol/auth/handshake.hpp"
#include "protocol/auth/secret.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include "support/temp_dir.hpp"

namespace socketengine::detail::auth {
namespace {

using namespace std::chrono_literals;

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  char two[3];
  for (auto b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    out += two;
  }
  return out;
}

nonce counting_from(std::uint8_t first) {
  nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(first + i);
  return n;
}

TEST(auth, a_proof_is_the_hmac_of_label_role_and_both_nonces) {
  // printf 'socketengine-auth-vD' and the nonces 00..0f, 10..1f, through
  // `openssl dgst -sha256 -mac HMAC -macopt key:"correct horse"`.
  secret token("correct horse");
  auto p = prove(token, role::dialler, counting_from(0x00), counting_from(0x10));
  EXPECT_EQ(hex(p), "d823f37203939e6124da1da1b6d5a85d529284bc135550d8f7ad1ab4c75a303a");
}

TEST(auth, a_proof_changes_with_the_token_the_role_and_each_nonce) {
  secret token("correct horse"), other("correct horsf");
  auto a = counting_from(0x00), b = counting_from(0x10);
  std::set<std::string> proofs{
      hex(prove(token, role::dialler, a, b)), hex(prove(token, role::listener, a, b)),
      hex(prove(token, role::dialler, b, a)), hex(prove(other, role::dialler, a, b)),
      hex(prove(token, role::dialler, counting_from(0x01), b)),
      hex(prove(token, role::dialler, a, counting_from(0x11)))};
  EXPECT_EQ(proofs.size(), 6u);
}

TEST(auth, matches_wants_every_byte_and_the_size) {
  secret token("t");
  auto p = prove(token, role::listener, counting_from(1), counting_from(2));
  EXPECT_TRUE(matches(p, p));
  for (std::size_t at : {std::size_t{0}, std::size_t{17}, p.size() - 1}) {
    auto q = p;
    q[at] ^= 0x01;
    EXPECT_FALSE(matches(p, q)) << "byte " << at;
  }
  EXPECT_FALSE(matches(p, std::span(p).first(31)));
  EXPECT_FALSE(matches(p, {}));
}

TEST(auth, an_engine_knows_the_nonces_it_issued_until_they_expire) {
  nonce_registry recent(50ms, 3);
  auto a = recent.issue(), b = recent.issue();
  EXPECT_NE(a, b);
  EXPECT_TRUE(recent.issued(a));
  EXPECT_TRUE(recent.issued(b));
  EXPECT_FALSE(recent.issued(counting_from(7)));
  // Past its capacity the oldest goes first.
  recent.issue();
  recent.issue();
  EXPECT_FALSE(recent.issued(a));
  EXPECT_TRUE(recent.issued(b));
  nonce_registry brief(0ms);
  auto c = brief.issue();
  std::this_thread::sleep_for(2ms); // a clock to pass, not a network to wait for
  EXPECT_FALSE(brief.issued(c));
}

TEST(auth, no_source_is_no_token_and_a_given_one_is_taken_as_is) {
  EXPECT_EQ(resolve_token({}, "hub"), nullptr);
  auto t = resolve_token({.token = "s3cret\n"}, "hub");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bytes().size(), 7u); // a token given in code keeps its newline
}

TEST(auth, a_token_file_loses_one_trailing_newline) {
  test::temp_dir dir;
  std::ofstream(dir.file("token"), std::ios::binary) << "s3cret\r\n";
  auto t = resolve_token({.file = dir.file("token")}, "hub");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::string(t->bytes().begin(), t->bytes().end()), "s3cret");
}

TEST(auth, a_token_variable_is_read_when_the_engine_is_made) {
  ::setenv("SOCKETENGINE_TEST_TOKEN", "from-env\n", 1);
  auto t = resolve_token({.env = "SOCKETENGINE_TEST_TOKEN"}, "client");
  ::unsetenv("SOCKETENGINE_TEST_TOKEN");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::string(t->bytes().begin(), t->bytes().end()), "from-env");
}

// The message of what `f` throws as `E`, or "" if it throws nothing.
template <class E, class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(auth, bad_token_sources_are_refused_by_name_without_the_token) {
  test::temp_dir dir;
  std::ofstream(dir.file("empty"));
  std::ofstream(dir.file("huge")) << std::string(max_token_bytes + 10, 'x');
  auto missing = thrown<std::system_error>(
      [&] { resolve_token({.file = dir.file("missing")}, "hub"); });
  EXPECT_NE(missing.find(dir.file("missing")), std::string::npos) << missing;
  EXPECT_NE(missing.find("hub"), std::string::npos) << missing;
  EXPECT_NE(thrown<std::invalid_argument>([&] { resolve_token({.file = dir.file("empty")}, "hub"); })
                .find("is empty"),
            std::string::npos);
  EXPECT_NE(thrown<std::invalid_argument>([&] { resolve_token({.file = dir.file("huge")}, "hub"); })
                .find("not a token"),
            std::string::npos);
  ::unsetenv("SOCKETENGINE_NO_SUCH_TOKEN");
  EXPECT_NE(thrown<std::invalid_argument>(
                [&] { resolve_token({.env = "SOCKETENGINE_NO_SUCH_TOKEN"}, "hub"); })
                .find("SOCKETENGINE_NO_SUCH_TOKEN, which is not set"),
            std::string::npos);
  auto two = thrown<std::invalid_argument>(
      [&] { resolve_token({.token = "hunter2", .env = "X"}, "host"); });
  EXPECT_NE(two.find("set one of"), std::string::npos) << two;
  EXPECT_EQ(two.find("hunter2"), std::string::npos) << two;
}

} // namespace
} // namespace socketengine::detail::auth
