// The latest-value store of a connection: versions, the channel limit and
// its exemptions, images, names, and waits that end on a store, a deadline
// or the close.

#include "connection/value_store.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "support/test_images.hpp"

namespace socketengine::detail {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using refusal = value_store::refusal;

bool reserved(std::string_view channel) noexcept { return channel == "__name_conn"; }

auto soon(std::chrono::milliseconds d = 10s) { return clock_type::now() + d; }

// A wait that a store should end returns long before its 10 s deadline: a
// lost wake-up would still find the value, but only at the deadline.
class prompt {
public:
  ~prompt() { EXPECT_LT(clock_type::now() - start_, 5s) << "the wait ended only at its deadline"; }

private:
  clock_type::time_point start_ = clock_type::now();
};

TEST(value_store, keeps_the_latest_value_per_channel_with_growing_versions) {
  value_store s(16, &reserved);
  EXPECT_EQ(s.get("x"), std::nullopt);
  EXPECT_EQ(s.version("x"), 0u);
  EXPECT_EQ(s.store("x", 1, 0), refusal::none);
  auto v1 = s.version("x");
  EXPECT_GT(v1, 0u);
  EXPECT_EQ(s.store("y", "a", 0), refusal::none);
  EXPECT_EQ(s.store("x", 2, 0), refusal::none);
  EXPECT_EQ(s.get("x"), value(2));
  EXPECT_EQ(s.get("y"), value("a"));
  EXPECT_GT(s.version("x"), s.version("y")); // one counter for every channel
  EXPECT_GT(s.version("y"), v1);
  EXPECT_EQ(s.messages(), 3u);
  EXPECT_EQ(s.channels(), 2u);
}

TEST(value_store, store_with_sees_the_last_value_in_its_slot) {
  value_store s(16, &reserved);
  s.store_with("b", [](value& slot) {
    EXPECT_TRUE(slot.is_null()); // a new channel starts empty
    slot = value::binary({1, 2});
  }, 2);
  s.store_with("b", [](value& slot) {
    ASSERT_TRUE(slot.is_binary());
    slot.get_binary().push_back(3);
  }, 3);
  EXPECT_EQ(s.get("b"), value::binary({1, 2, 3}));
}

TEST(value_store, refuses_new_channels_past_the_limit_but_not_exempt_ones) {
  value_store s(2, &reserved);
  EXPECT_EQ(s.store("a", 1, 0), refusal::none);
  EXPECT_EQ(s.store("b", 1, 0), refusal::none);
  EXPECT_EQ(s.store("c", 1, 0), refusal::too_many_channels);
  EXPECT_EQ(s.get("c"), std::nullopt);
  EXPECT_EQ(s.store("a", 2, 0), refusal::none); // known channels go on
  EXPECT_EQ(s.store("__name_conn", "cam", 0), refusal::none);
  EXPECT_EQ(s.get("__name_conn"), value("cam"));
  EXPECT_EQ(s.messages(), 4u); // the refused one is not counted
}

TEST(value_store, exempt_channels_take_none_of_the_limit) {
  value_store s(2, &reserved);
  EXPECT_EQ(s.store("__name_conn", "cam", 0), refusal::none);
  EXPECT_EQ(s.store("a", 1, 0), refusal::none);
  EXPECT_EQ(s.store("b", 1, 0), refusal::none);
  EXPECT_EQ(s.store("c", 1, 0), refusal::too_many_channels);
}

TEST(value_store, refuses_a_channel_name_that_is_not_utf8) {
  value_store s(16, &reserved);
  EXPECT_EQ(s.store("caf\xc3\xa9", 1, 0), refusal::none);
  EXPECT_EQ(s.store("bad\xff", 1, 0), refusal::invalid_channel);
  EXPECT_EQ(s.channels(), 1u);
}

TEST(value_store, wait_for_returns_a_value_there_at_once_and_one_stored_later) {
  value_store s(16, &reserved);
  s.store("here", 1, 0);
  EXPECT_EQ(s.wait_for("here", clock_type::now()), value(1));
  {
    prompt p;
    std::thread writer([&] {
      std::this_thread::sleep_for(20ms); // not a wait: the store comes while it waits
      s.store("later", "v", 0);
    });
    EXPECT_EQ(s.wait_for("later", soon()), value("v"));
    writer.join();
  }
  EXPECT_EQ(s.wait_for("never", soon(20ms)), std::nullopt);
}

TEST(value_store, wait_for_next_wants_a_version_past_since) {
  value_store s(16, &reserved);
  s.store("c", 1, 0);
  auto since = s.version("c");
  EXPECT_EQ(s.wait_for_next("c", since, soon(20ms)), std::nullopt);
  EXPECT_EQ(s.wait_for_next("c", since - 1, clock_type::now()), value(1));
  prompt p;
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    s.store("other", 0, 0); // a store elsewhere is not the one waited for
    s.store("c", 2, 0);
  });
  EXPECT_EQ(s.wait_for_next("c", since, soon()), value(2));
  writer.join();
}

TEST(value_store, close_ends_every_wait_and_drops_the_image_but_not_the_values) {
  value_store s(16, &reserved);
  s.store("kept", 1, 0);
  s.store_image(test::pattern_image(4, 4, pixel_order::gray), true);
  {
    prompt p;
    std::thread closer([&] {
      std::this_thread::sleep_for(20ms);
      s.close();
    });
    EXPECT_EQ(s.wait_for("never", soon()), std::nullopt);
    closer.join();
  }
  EXPECT_EQ(s.wait_for_next("never", 0, soon()), std::nullopt);
  EXPECT_EQ(s.wait_for_image(s.image_version(), soon()), std::nullopt);
  EXPECT_EQ(s.get("kept"), value(1));
  EXPECT_EQ(s.get_image(), std::nullopt);
}

TEST(value_store, keeps_the_latest_image_with_its_version) {
  value_store s(16, &reserved);
  EXPECT_EQ(s.get_image(), std::nullopt);
  EXPECT_EQ(s.image_version(), 0u);
  auto first = test::pattern_image(3, 2, pixel_order::bgr, 1);
  auto second = test::pattern_image(3, 2, pixel_order::bgr, 2);
  s.store_image(first, /*counted=*/false);
  auto v1 = s.image_version();
  EXPECT_GT(v1, 0u);
  EXPECT_EQ(s.messages(), 0u);
  std::optional<image> got;
  {
    prompt p;
    std::thread writer([&] {
      std::this_thread::sleep_for(20ms);
      s.store_image(second, /*counted=*/true);
    });
    got = s.wait_for_image(v1, soon());
    writer.join();
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, second);
  EXPECT_EQ(*s.get_image(), second);
  EXPECT_EQ(s.messages(), 1u);
}

TEST(value_store, holds_the_name) {
  value_store s(16, &reserved);
  EXPECT_EQ(s.name(), "");
  s.set_name("arm");
  EXPECT_EQ(s.name(), "arm");
}

TEST(value_store, charges_what_it_keeps_to_the_budget_and_gives_it_back) {
  auto budget = std::make_shared<memory_budget>(1000);
  {
    value_store s(16, &reserved, budget);
    s.store("x", 1, 100); // 100 bytes and the channel's name
    EXPECT_EQ(s.held_bytes(), 101u);
    s.store("x", 2, 40); // replaced: the old value's charge goes
    EXPECT_EQ(s.held_bytes(), 41u);
    s.store("yy", 3, 10);
    EXPECT_EQ(budget->used(), 53u);
    auto img = test::pattern_image(10, 10, pixel_order::bgr, 1);
    s.store_image(img, true);
    EXPECT_EQ(budget->used(), 353u);
    s.close(); // a closed connection lets go of its image, not its values
    EXPECT_EQ(budget->used(), 53u);
    EXPECT_EQ(s.get("x"), value(2));
    s.store("big", 4, 2000);
    EXPECT_TRUE(budget->over()); // counted whatever the limit: the engine acts
    EXPECT_EQ(s.drop_all(), 2056u);
    EXPECT_EQ(budget->used(), 0u);
    EXPECT_FALSE(s.get("x"));
    s.store("x", 5, 7);
  }
  EXPECT_EQ(budget->used(), 0u); // the destructor gives back the rest
}

} // namespace
} // namespace socketengine::detail
