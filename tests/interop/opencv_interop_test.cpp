// Images against a codec nobody here wrote: Debian's Python OpenCV (cv2) on
// the other end of a hub connection, speaking socket.engine 0.3 over a raw
// socket (opencv_peer.py). Images go both ways, each compared byte for byte
// with a pattern both sides compute on their own, and the peer checks that
// this side keeps one image in flight until it acknowledges.

#include <gtest/gtest.h>

#include <socketengine/socketengine.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "support/child_process.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using socketengine::image;
using socketengine::pixel_order;
using socketengine::test::child_process;
using socketengine::test::patience;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

const char* const python_executable = SOCKETENGINE_PYTHON_EXECUTABLE;
const char* const peer_script = SOCKETENGINE_OPENCV_PEER_SCRIPT;

// The peer gives itself 20 s for the whole exchange; this leaves it room to
// report its own timeout before this side gives up on it.
constexpr milliseconds peer_exit_timeout = 30s;

/// One image of the exchange: its size, and the order this side writes it
/// in. Python writes the same sizes in OpenCV's order (gray, BGR, BGRA).
/// Keep in step with CASES in opencv_peer.py.
struct image_case {
  std::uint32_t width;
  std::uint32_t height;
  pixel_order order;
};

constexpr image_case cases[] = {
    {1, 1, pixel_order::gray},     {1, 1, pixel_order::bgr},      {1, 1, pixel_order::bgra},
    {641, 479, pixel_order::gray}, {641, 479, pixel_order::bgr},  {641, 479, pixel_order::bgra},
    {2, 3, pixel_order::bgr},      {1, 33, pixel_order::bgra},    {33, 1, pixel_order::gray},
    {256, 7, pixel_order::bgr},
    // Red first in memory: written as the same colours, so Python must
    // decode them to the same BGR(A) pattern as the others.
    {5, 4, pixel_order::rgb},      {4, 5, pixel_order::rgba},
};

// The two directions use different images (see opencv_peer.py).
constexpr std::uint32_t salt_from_cpp = 1;
constexpr std::uint32_t salt_from_py = 2;

/// Sample `c` (in BGR(A) order, as OpenCV keeps it) of pixel x, y of the
/// test pattern for a width x height image; opencv_peer.py's pattern()
/// computes the same with numpy. All arithmetic is on non-negative values
/// and the hash wraps at 32 bits, which is what the Python side reproduces.
std::uint8_t expected_sample(std::uint32_t width, std::uint32_t height, std::uint32_t x,
                             std::uint32_t y, std::uint32_t c, std::uint32_t salt) {
  const std::uint32_t gx = x * 255 / std::max(width - 1, 1u);
  const std::uint32_t gy = y * 255 / std::max(height - 1, 1u);
  const std::int64_t dx = std::int64_t{x} - width / 2;
  const std::int64_t dy = std::int64_t{y} - height / 2;
  const auto rings = static_cast<std::uint64_t>(dx * dx + dy * dy) / 64;
  const std::uint32_t hashed =
      (x * 73856093u) ^ (y * 19349663u) ^ ((c + 1) * 83492791u + salt * 2654435761u);
  const std::uint32_t noise = (hashed >> 11) & 15u;
  const std::uint64_t v = std::uint64_t{gx} * (1 + c) + std::uint64_t{gy} * (4 - c) + rings +
                          noise + std::uint64_t{salt} * 40;
  return static_cast<std::uint8_t>(v & 0xFFu);
}

/// Which BGR(A) sample sits at position `i` of a pixel in `order`.
std::uint32_t bgr_index(pixel_order order, std::uint32_t i) {
  bool red_first = order == pixel_order::rgb || order == pixel_order::rgba;
  return red_first && i < 3 ? 2 - i : i;
}

image make_image(const image_case& k, std::uint32_t salt) {
  image img(k.width, k.height, k.order);
  const auto channels = static_cast<std::uint32_t>(img.channels());
  std::uint8_t* p = img.data();
  for (std::uint32_t y = 0; y < k.height; ++y)
    for (std::uint32_t x = 0; x < k.width; ++x)
      for (std::uint32_t i = 0; i < channels; ++i)
        *p++ = expected_sample(k.width, k.height, x, y, bgr_index(k.order, i), salt);
  return img;
}

/// The order a decoded image of `channels` channels arrives in.
pixel_order received_order(int channels) {
  return channels == 1 ? pixel_order::gray : channels == 3 ? pixel_order::bgr : pixel_order::bgra;
}

::testing::AssertionResult is_pattern(const image& img, const image_case& k, std::uint32_t salt) {
  const pixel_order order = received_order(socketengine::channels_of(k.order));
  if (img.width() != k.width || img.height() != k.height || img.order() != order)
    return ::testing::AssertionFailure()
           << "got " << img.width() << "x" << img.height() << " order "
           << static_cast<int>(img.order()) << ", expected " << k.width << "x" << k.height
           << " order " << static_cast<int>(order);
  const auto channels = static_cast<std::uint32_t>(img.channels());
  const std::uint8_t* p = img.data();
  for (std::uint32_t y = 0; y < k.height; ++y)
    for (std::uint32_t x = 0; x < k.width; ++x)
      for (std::uint32_t i = 0; i < channels; ++i, ++p) {
        auto want = expected_sample(k.width, k.height, x, y, i, salt);
        if (*p != want)
          return ::testing::AssertionFailure() << "pixel " << x << "," << y << " sample " << i
                                               << ": got " << int{*p} << ", expected " << int{want};
      }
  return ::testing::AssertionSuccess();
}

/// /usr/bin/python3 running opencv_peer.py, its stdout and stderr on one
/// pipe. Killed when it goes out of scope, so a failing test never leaves it
/// behind; what it printed is shown when the test failed.
class python_peer {
public:
  explicit python_peer(const std::string& port)
      // -I: the interpreter's own site-packages (where Debian's cv2 and numpy
      // are) and nothing from PYTHONPATH or the user's directories.
      : child_({python_executable, "-I", peer_script, port}, {.stderr_to_stdout = true}) {}

  ~python_peer() {
    child_.kill();
    // Dead now, so its end of the pipe is closed: this ends at once.
    read_until_eof(steady_clock::now() + 1s);
    if (::testing::Test::HasFailure())
      std::fprintf(stderr, "--- output of %s ---\n%s--- end ---\n", peer_script, output_.c_str());
  }

  python_peer(const python_peer&) = delete;
  python_peer& operator=(const python_peer&) = delete;

  /// Waits up to `timeout` for the peer to exit; its exit status, or -1 if
  /// it did not exit in time or died by a signal.
  int wait_exit(milliseconds timeout) {
    auto deadline = steady_clock::now() + timeout;
    // EOF on the pipe means the process has gone, so the wait is short.
    if (!read_until_eof(deadline)) return -1;
    return child_.wait_exit(deadline);
  }

  const std::string& output() const { return output_; }

private:
  // Collects the peer's output until EOF (true) or `deadline` (false).
  bool read_until_eof(steady_clock::time_point deadline) {
    for (;;) {
      switch (child_.read_some(output_, deadline)) {
      case child_process::read_result::data: break;
      case child_process::read_result::eof: return true;
      case child_process::read_result::timeout: return false;
      }
    }
  }

  child_process child_;
  std::string output_;
};

TEST(opencv_interop, images_cross_both_ways_with_python_opencv) {
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  h.on_error([&](const auto&, std::error_code ec, const std::string& what) {
    std::lock_guard lock(errors_mutex);
    errors.push_back(ec.message() + ": " + what);
  });

  python_peer py(std::to_string(h.port()));
  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c) << "the Python peer did not connect";
  auto name = c->wait_for("__name_conn", patience);
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, socketengine::value("py"));
  // Nothing comes from Python before it has every image of ours, so this is
  // the version before its first.
  std::uint64_t since = c->image_version();
  ASSERT_EQ(since, 0u);

  // C++ -> Python. Waiting for the slot before each write means no frame
  // ever replaces a pending one, so Python gets every image, in order;
  // each goes out once Python acknowledges the one before.
  for (const image_case& k : cases) {
    SCOPED_TRACE(std::to_string(k.width) + "x" + std::to_string(k.height));
    ASSERT_TRUE(c->wait_for_image_slot(patience)) << "an image was never acknowledged";
    EXPECT_NE(c->write_image(make_image(k, salt_from_cpp)), socketengine::image_status::dropped);
  }

  // Python -> C++. Python sends the next image only after `checked`, since
  // a connection keeps just the latest image.
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const image_case& k = cases[i];
    SCOPED_TRACE("image " + std::to_string(i) + " from Python, " + std::to_string(k.width) + "x" +
                 std::to_string(k.height));
    auto got = c->wait_for_next_image(patience, since);
    ASSERT_TRUE(got) << "did not arrive";
    since = c->image_version();
    EXPECT_TRUE(is_pattern(*got, k, salt_from_py));
    if (i == 0) {
      // Python acknowledged our last image before sending this one, on the
      // same stream, so that acknowledgement has been read: nothing is in
      // flight.
      EXPECT_TRUE(c->can_write_image());
    }
    c->write("checked", i);
  }

  EXPECT_EQ(py.wait_exit(peer_exit_timeout), 0) << "the Python peer failed or did not finish";
  // Python waited for this side to close after its __closing, before exiting.
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->close_reason(), socketengine::errc::peer_closing);
  EXPECT_EQ(c->stats().errors, 0u);
  h.close(); // runs every queued callback, so `errors` is complete
  std::lock_guard lock(errors_mutex);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

} // namespace
