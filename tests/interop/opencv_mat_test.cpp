// socketengine/opencv.hpp: cv::Mat <-> image without copies where the
// layouts allow it, one copy where they do not, errors for Mats an image
// cannot hold, and a Mat sent through two hubs arriving byte for byte.

#include <gtest/gtest.h>

#include <socketengine/opencv.hpp>
#include <socketengine/socketengine.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using socketengine::from_mat;
using socketengine::image;
using socketengine::pixel_order;
using socketengine::test::patience;

/// OpenCV's own allocator, counting the buffers it frees: tells whether an
/// image still holds a reference on a Mat's pixels without reading freed
/// memory (which only a sanitizer would notice).
class counting_allocator : public cv::MatAllocator {
public:
  cv::UMatData* allocate(int dims, const int* sizes, int type, void* data, std::size_t* step,
                         cv::AccessFlag flags, cv::UMatUsageFlags usage) const override {
    cv::UMatData* u = std_()->allocate(dims, sizes, type, data, step, flags, usage);
    // Mat::release hands the buffer back to currAllocator; point it here so
    // the release is counted before the standard allocator frees it.
    if (u) u->currAllocator = u->prevAllocator = this;
    return u;
  }
  bool allocate(cv::UMatData* u, cv::AccessFlag flags, cv::UMatUsageFlags usage) const override {
    return std_()->allocate(u, flags, usage);
  }
  void deallocate(cv::UMatData* u) const override {
    ++freed;
    std_()->deallocate(u);
  }

  mutable std::atomic<int> freed{0};

private:
  static cv::MatAllocator* std_() { return cv::Mat::getStdAllocator(); }
};

/// A deterministic, not constant, sample for row y, column x, channel c.
std::uint8_t sample(int x, int y, int c) {
  return static_cast<std::uint8_t>((x * 7 + y * 13 + c * 51 + (x * y) % 17) & 0xFF);
}

void fill(cv::Mat& m) {
  for (int y = 0; y < m.rows; ++y) {
    auto* row = m.ptr<std::uint8_t>(y);
    for (int x = 0; x < m.cols; ++x)
      for (int c = 0; c < m.channels(); ++c) row[x * m.channels() + c] = sample(x, y, c);
  }
}

cv::Mat pattern(int rows, int cols, int type) {
  cv::Mat m(rows, cols, type);
  fill(m);
  return m;
}

/// True if `img` has the size and channel count of `m` and the same bytes,
/// row by row (so `m` may have gaps between its rows).
::testing::AssertionResult same_pixels(const image& img, const cv::Mat& m) {
  if (img.empty() || m.empty())
    return ::testing::AssertionFailure() << "empty: image " << img.empty() << ", Mat " << m.empty();
  if (static_cast<int>(img.width()) != m.cols || static_cast<int>(img.height()) != m.rows ||
      img.channels() != m.channels())
    return ::testing::AssertionFailure()
           << "image " << img.width() << "x" << img.height() << "x" << img.channels() << ", Mat "
           << m.cols << "x" << m.rows << "x" << m.channels();
  for (int y = 0; y < m.rows; ++y) {
    const std::uint8_t* a = img.data() + static_cast<std::size_t>(y) * img.row_bytes();
    const std::uint8_t* b = m.ptr<std::uint8_t>(y);
    for (std::size_t i = 0; i < img.row_bytes(); ++i)
      if (a[i] != b[i])
        return ::testing::AssertionFailure()
               << "row " << y << " byte " << i << ": image " << int{a[i]} << ", Mat " << int{b[i]};
  }
  return ::testing::AssertionSuccess();
}

// --- Mat -> image ------------------------------------------------------------

TEST(opencv_mat, from_mat_shares_a_continuous_mats_pixels) {
  cv::Mat m = pattern(48, 64, CV_8UC3);
  ASSERT_TRUE(m.isContinuous());
  ASSERT_EQ(m.u->refcount, 1);

  image img = from_mat(m);
  EXPECT_EQ(img.data(), m.data);
  EXPECT_EQ(img.width(), 64u);
  EXPECT_EQ(img.height(), 48u);
  EXPECT_EQ(img.order(), pixel_order::bgr);
  // One reference through OpenCV's counter, however many image copies.
  EXPECT_EQ(m.u->refcount, 2);
  image copy = img;
  EXPECT_EQ(m.u->refcount, 2);

  // Shared, not copied: a write through the image shows in the Mat.
  img.data()[5] = static_cast<std::uint8_t>(~img.data()[5]);
  EXPECT_EQ(m.data[5], img.data()[5]);
  EXPECT_TRUE(same_pixels(copy, m));

  img = image{};
  copy = image{};
  EXPECT_EQ(m.u->refcount, 1) << "the image did not give its reference back";
}

TEST(opencv_mat, pixels_outlive_the_mat_while_an_image_holds_them) {
  counting_allocator alloc; // outlives every Mat below
  image img;
  const std::uint8_t* pixels = nullptr;
  {
    cv::Mat m;
    m.allocator = &alloc;
    m.create(31, 17, CV_8UC4);
    fill(m);
    img = from_mat(m);
    pixels = m.data;
  }
  // The Mat is gone; its buffer is kept alive by the image alone.
  EXPECT_EQ(alloc.freed.load(), 0);
  ASSERT_EQ(img.data(), pixels);
  for (int y = 0; y < 31; ++y)
    for (int x = 0; x < 17; ++x)
      for (int c = 0; c < 4; ++c)
        ASSERT_EQ(img.data()[(static_cast<std::size_t>(y) * 17 + static_cast<std::size_t>(x)) * 4 +
                             static_cast<std::size_t>(c)],
                  sample(x, y, c))
            << "at " << x << "," << y << "," << c;

  image copy = img;
  img = image{};
  EXPECT_EQ(alloc.freed.load(), 0) << "freed while a copy of the image still held it";
  copy = image{};
  EXPECT_EQ(alloc.freed.load(), 1) << "the last image did not release the Mat's buffer";
}

TEST(opencv_mat, a_region_narrower_than_its_mat_is_copied) {
  cv::Mat m = pattern(20, 30, CV_8UC3);
  cv::Mat roi = m(cv::Rect(3, 2, 10, 7));
  ASSERT_FALSE(roi.isContinuous());

  image img = from_mat(roi);
  EXPECT_EQ(img.width(), 10u);
  EXPECT_EQ(img.height(), 7u);
  EXPECT_EQ(img.order(), pixel_order::bgr);
  EXPECT_TRUE(same_pixels(img, roi));
  // Pixels of its own: not inside the Mat's buffer, no reference on it, and
  // later writes to the Mat do not reach it.
  const std::uint8_t* begin = m.datastart;
  const std::uint8_t* end = m.dataend;
  EXPECT_FALSE(img.data() >= begin && img.data() < end);
  EXPECT_EQ(m.u->refcount, 2); // m and roi
  cv::Mat before = roi.clone();
  roi.setTo(cv::Scalar::all(0));
  EXPECT_TRUE(same_pixels(img, before));
}

TEST(opencv_mat, mats_with_padded_rows_are_copied_and_whole_row_ranges_shared) {
  // Rows of 5 gray pixels, 8 bytes apart: not continuous.
  std::vector<std::uint8_t> buffer(8 * 6);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<std::uint8_t>(i * 3);
  cv::Mat padded(6, 5, CV_8UC1, buffer.data(), 8);
  ASSERT_FALSE(padded.isContinuous());
  image img = from_mat(padded);
  EXPECT_EQ(img.order(), pixel_order::gray);
  EXPECT_TRUE(same_pixels(img, padded));
  EXPECT_NE(img.data(), buffer.data());

  // A range of whole rows is continuous: shared, starting at its first row.
  cv::Mat m = pattern(12, 9, CV_8UC1);
  cv::Mat rows = m.rowRange(4, 9);
  ASSERT_TRUE(rows.isContinuous());
  image shared = from_mat(rows);
  EXPECT_EQ(shared.data(), m.ptr<std::uint8_t>(4));
  EXPECT_EQ(shared.height(), 5u);
  EXPECT_TRUE(same_pixels(shared, rows));
}

TEST(opencv_mat, each_channel_count_gets_its_order) {
  struct row {
    int type;
    pixel_order default_order;
    std::optional<pixel_order> other; // an explicit order with the same count
  };
  for (const row& r : {row{CV_8UC1, pixel_order::gray, std::nullopt},
                       row{CV_8UC3, pixel_order::bgr, pixel_order::rgb},
                       row{CV_8UC4, pixel_order::bgra, pixel_order::rgba}}) {
    SCOPED_TRACE(cv::typeToString(r.type));
    cv::Mat m = pattern(5, 3, r.type);
    image img = from_mat(m);
    EXPECT_EQ(img.order(), r.default_order);
    EXPECT_EQ(img.channels(), m.channels());
    EXPECT_EQ(img.data(), m.data);
    EXPECT_TRUE(same_pixels(img, m));

    cv::Mat back = socketengine::as_mat(img);
    EXPECT_EQ(back.type(), r.type);
    EXPECT_EQ(back.data, m.data);

    if (r.other) {
      // An explicit order only labels the samples; nothing moves.
      image labelled = from_mat(m, *r.other);
      EXPECT_EQ(labelled.order(), *r.other);
      EXPECT_EQ(labelled.data(), m.data);
      EXPECT_TRUE(same_pixels(labelled, m));
    }
    image same = from_mat(m, r.default_order);
    EXPECT_EQ(same.order(), r.default_order);
  }
}

TEST(opencv_mat, mats_an_image_cannot_hold_are_refused) {
  auto refused = [](const cv::Mat& m) {
    EXPECT_THROW((void)from_mat(m), std::invalid_argument) << cv::typeToString(m.type());
  };
  refused(cv::Mat());
  refused(cv::Mat(0, 4, CV_8UC3));
  refused(cv::Mat(2, 2, CV_8UC2));
  refused(cv::Mat(2, 2, CV_8UC(5)));
  refused(cv::Mat(2, 2, CV_8SC1));
  refused(cv::Mat(2, 2, CV_16UC3));
  refused(cv::Mat(2, 2, CV_32FC1));
  refused(cv::Mat(2, 2, CV_64FC4));
  const int sizes[] = {2, 3, 4};
  refused(cv::Mat(3, sizes, CV_8UC1));

  // An explicit order must have the Mat's channel count.
  EXPECT_THROW((void)from_mat(cv::Mat(2, 2, CV_8UC3), pixel_order::gray), std::invalid_argument);
  EXPECT_THROW((void)from_mat(cv::Mat(2, 2, CV_8UC3), pixel_order::bgra), std::invalid_argument);
  EXPECT_THROW((void)from_mat(cv::Mat(2, 2, CV_8UC4), pixel_order::rgb), std::invalid_argument);
  EXPECT_THROW((void)from_mat(cv::Mat(2, 2, CV_8UC1), pixel_order::rgba), std::invalid_argument);
  EXPECT_THROW((void)from_mat(cv::Mat(2, 2, CV_16UC1), pixel_order::gray), std::invalid_argument);
  EXPECT_THROW((void)from_mat(cv::Mat(), pixel_order::gray), std::invalid_argument);
}

// --- image -> Mat ------------------------------------------------------------

TEST(opencv_mat, as_mat_is_a_header_over_the_images_pixels) {
  image img(21, 13, pixel_order::bgra);
  for (std::size_t i = 0; i < img.size_bytes(); ++i)
    img.data()[i] = static_cast<std::uint8_t>(i * 11 + 3);
  image keep = img; // a copy sharing the pixels keeps the Mat valid

  cv::Mat m = socketengine::as_mat(img);
  EXPECT_EQ(m.data, img.data());
  EXPECT_EQ(m.type(), CV_8UC4);
  EXPECT_EQ(m.rows, 13);
  EXPECT_EQ(m.cols, 21);
  EXPECT_TRUE(m.isContinuous());
  EXPECT_EQ(m.step[0], img.row_bytes());
  EXPECT_EQ(m.u, nullptr) << "as_mat should hold no OpenCV reference";
  EXPECT_TRUE(same_pixels(img, m));

  img = image{};
  m.at<cv::Vec4b>(12, 20)[3] = 7; // writes through to the shared pixels
  EXPECT_EQ(keep.data()[keep.size_bytes() - 1], 7);

  EXPECT_TRUE(socketengine::as_mat(image{}).empty());
  EXPECT_TRUE(socketengine::to_mat(image{}).empty());
}

TEST(opencv_mat, to_mat_copies_into_a_mat_of_its_own) {
  cv::Mat expected;
  cv::Mat m;
  {
    image img(9, 4, pixel_order::gray);
    for (std::size_t i = 0; i < img.size_bytes(); ++i)
      img.data()[i] = static_cast<std::uint8_t>(255 - i);
    m = socketengine::to_mat(img);
    EXPECT_NE(m.data, img.data());
    EXPECT_EQ(m.type(), CV_8UC1);
    ASSERT_NE(m.u, nullptr);
    EXPECT_EQ(m.u->refcount, 1);
    EXPECT_TRUE(same_pixels(img, m));
    expected = socketengine::as_mat(img).clone();
    img.data()[0] = 1; // not seen by the copy
  }
  // The image is gone; the Mat's pixels are its own.
  ASSERT_EQ(m.rows, 4);
  ASSERT_EQ(m.cols, 9);
  EXPECT_EQ(cv::norm(m, expected, cv::NORM_INF), 0.0);
  EXPECT_EQ(m.at<std::uint8_t>(0, 0), 255);
}

// --- through two hubs ----------------------------------------------------------

TEST(opencv_mat, mats_cross_two_hubs_byte_for_byte) {
  socketengine::hub receiver({.port = 0, .bind_address = "127.0.0.1"});
  socketengine::hub sender({.port = 0, .bind_address = "127.0.0.1"});
  auto out = sender.connect("receiver", "127.0.0.1", receiver.port());
  ASSERT_TRUE(out);
  auto in = receiver.wait_for_connection(patience);
  ASSERT_TRUE(in);

  cv::Mat big = pattern(97, 131, CV_8UC3);
  std::vector<cv::Mat> mats{pattern(1, 1, CV_8UC1), pattern(48, 64, CV_8UC1),
                            pattern(37, 53, CV_8UC3), pattern(29, 41, CV_8UC4),
                            big(cv::Rect(5, 7, 60, 33))}; // a non-continuous region
  for (const cv::Mat& m : mats) {
    SCOPED_TRACE(cv::typeToString(m.type()) + " " + std::to_string(m.cols) + "x" +
                 std::to_string(m.rows));
    // Each image is awaited before the next is written, so none replaces
    // another on either side.
    ASSERT_TRUE(out->wait_for_image_slot(patience));
    auto since = in->image_version();
    EXPECT_NE(out->write_image(from_mat(m)), socketengine::image_status::dropped);
    auto got = in->wait_for_next_image(patience, since);
    ASSERT_TRUE(got) << "no image arrived";
    const pixel_order expected_order = m.channels() == 1   ? pixel_order::gray
                                       : m.channels() == 3 ? pixel_order::bgr
                                                           : pixel_order::bgra;
    EXPECT_EQ(got->order(), expected_order);
    EXPECT_TRUE(same_pixels(*got, m));
    cv::Mat back = socketengine::as_mat(*got);
    EXPECT_EQ(back.type(), m.type());
    EXPECT_EQ(cv::norm(back, m, cv::NORM_INF), 0.0);
  }

  // An rgb-labelled Mat leaves as an RGB PNG and comes back in BGR order:
  // the same colours, red and blue samples swapped in memory.
  cv::Mat rgb = pattern(11, 6, CV_8UC3);
  ASSERT_TRUE(out->wait_for_image_slot(patience));
  auto since = in->image_version();
  out->write_image(from_mat(rgb, pixel_order::rgb));
  auto got = in->wait_for_next_image(patience, since);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->order(), pixel_order::bgr);
  cv::Mat bgr = socketengine::as_mat(*got);
  ASSERT_EQ(bgr.size(), rgb.size());
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(bgr.at<cv::Vec3b>(y, x)[c], rgb.at<cv::Vec3b>(y, x)[2 - c])
            << "at " << x << "," << y << "," << c;

  EXPECT_EQ(in->stats().errors, 0u);
}

} // namespace
