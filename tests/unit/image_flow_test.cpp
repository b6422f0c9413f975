// Flow control of the images a connection sends: the window, retiring in
// order once written and acknowledged (in either order), stray and early
// acknowledgements, and the one pending frame.

#include "connection/image_flow.hpp"

#include <gtest/gtest.h>

namespace socketengine::detail {
namespace {

image_flow::frame frame_of(const char* text) {
  return {std::make_shared<const std::string>(text), {}};
}

TEST(image_flow, has_room_up_to_the_window) {
  image_flow f;
  EXPECT_TRUE(f.has_room(1));
  f.started(100, true);
  EXPECT_FALSE(f.has_room(1));
  EXPECT_TRUE(f.has_room(2));
  f.started(200, true);
  EXPECT_FALSE(f.has_room(2));
  EXPECT_EQ(f.in_flight(), 2u);
}

TEST(image_flow, an_acknowledged_image_retires_only_once_written) {
  image_flow f;
  f.started(100, true);
  f.acknowledged(1); // early: before the socket took it all
  EXPECT_FALSE(f.retire(99));
  EXPECT_EQ(f.in_flight(), 1u);
  EXPECT_TRUE(f.retire(100));
  EXPECT_EQ(f.in_flight(), 0u);
}

TEST(image_flow, a_written_image_waits_for_its_acknowledgement) {
  image_flow f;
  f.started(100, true);
  EXPECT_FALSE(f.retire(500));
  f.acknowledged(1);
  EXPECT_TRUE(f.retire(500));
  EXPECT_TRUE(f.has_room(1));
}

TEST(image_flow, an_image_nobody_acknowledges_is_done_once_written) {
  image_flow f;
  f.started(100, false);
  EXPECT_TRUE(f.retire(100));
  EXPECT_EQ(f.in_flight(), 0u);
}

TEST(image_flow, images_retire_oldest_first) {
  image_flow f;
  f.started(100, true);
  f.started(200, true);
  f.acknowledged(1); // acknowledges the oldest
  EXPECT_TRUE(f.retire(200));
  EXPECT_EQ(f.in_flight(), 1u);
  EXPECT_FALSE(f.retire(200)); // the second still waits for its own
  f.acknowledged(1);
  EXPECT_TRUE(f.retire(200));
}

TEST(image_flow, stray_acknowledgements_are_ignored) {
  image_flow f;
  f.acknowledged(5); // nothing in flight
  f.started(100, true);
  EXPECT_FALSE(f.retire(100)); // the stray ones did not count for it
  f.acknowledged(3);           // one for it, two stray
  EXPECT_TRUE(f.retire(100));
  f.started(200, true);
  EXPECT_FALSE(f.retire(200));
}

TEST(image_flow, one_pending_frame_the_latest) {
  image_flow f;
  EXPECT_FALSE(f.has_pending());
  f.hold(frame_of("first"));
  f.hold(frame_of("second"));
  ASSERT_TRUE(f.has_pending());
  EXPECT_EQ(*f.take_pending().bytes, "second");
  EXPECT_FALSE(f.has_pending());
  EXPECT_FALSE(f.take_pending());
}

TEST(image_flow, a_pending_frame_replaced_lets_go_of_its_pixels) {
  // A frame sent with share_pixels holds the caller's image; the newer
  // frame that replaces it must release it, or the caller never gets its
  // buffer back.
  image pixels(4, 4, pixel_order::gray);
  image_flow f;
  f.hold({std::make_shared<const std::string>("head"), pixels});
  EXPECT_EQ(pixels.use_count(), 2);
  f.hold(frame_of("newer"));
  EXPECT_EQ(pixels.use_count(), 1);
  f.hold({std::make_shared<const std::string>("head"), pixels});
  f.clear();
  EXPECT_EQ(pixels.use_count(), 1);
}

TEST(image_flow, clear_forgets_everything) {
  image_flow f;
  f.started(100, true);
  f.hold(frame_of("p"));
  f.clear();
  EXPECT_EQ(f.in_flight(), 0u);
  EXPECT_FALSE(f.has_pending());
}

} // namespace
} // namespace socketengine::detail
