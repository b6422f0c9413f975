#pragma once
/// \file opencv.hpp
/// Optional, header-only: conversions between `cv::Mat` and
/// socketengine::image that share pixels instead of copying them where they
/// can. Include it only in code that links OpenCV's core module; the
/// socketengine library itself does not depend on OpenCV.
///
/// Both types keep rows of 8-bit samples and share their pixels between
/// copies, so a frame can go from a camera to `write_image`, or from
/// `get_image` to OpenCV, without a copy:
///
/// \code
///   cv::Mat frame;
///   camera >> frame;
///   conn->write_image(socketengine::from_mat(frame));        // no copy
///
///   if (auto img = conn->get_image())
///     cv::imshow("peer", socketengine::as_mat(*img));        // no copy
/// \endcode
///
/// Thread safety: the functions keep no state and may be called from any
/// thread. An image made by from_mat holds a reference on the Mat's pixels,
/// and OpenCV counts references atomically, so the image, its copies and
/// the Mat may be used and destroyed on different threads; as for both
/// types, pixels shared between threads may be read concurrently but not
/// written.

#include <opencv2/core.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include <socketengine/image.hpp>

namespace socketengine {

namespace detail::opencv {

// The checks shared by both from_mat overloads: everything about `m` that
// does not depend on the pixel order.
inline void check_mat(const cv::Mat& m) {
  if (m.empty()) throw std::invalid_argument("socketengine::from_mat: the cv::Mat is empty");
  // A Mat of 3 or more dimensions has no single width and height; rows()
  // and cols() are -1 for it.
  if (m.dims != 2)
    throw std::invalid_argument("socketengine::from_mat: the cv::Mat has " +
                                std::to_string(m.dims) + " dimensions, not 2");
  if (m.depth() != CV_8U)
    throw std::invalid_argument("socketengine::from_mat: the cv::Mat is " +
                                cv::typeToString(m.type()) +
                                ", but images hold 8-bit samples (CV_8UC1, CV_8UC3 or CV_8UC4)");
}

} // namespace detail::opencv

/// An image of the pixels of `m`, with its samples in `order`.
///
/// When `m` is continuous (`m.isContinuous()`: a whole Mat, or a range of
/// whole rows of one) the image shares its pixels: no copy is made, the
/// image holds a reference on the Mat's buffer as a Mat copy would (so the
/// pixels stay valid after `m` and every other Mat of them is gone), and
/// writes through either show in both. Otherwise (a region narrower than
/// its parent, a Mat with padded rows) the rows are copied once into an
/// image of its own.
///
/// A Mat made over memory OpenCV does not own (`cv::Mat(rows, cols, type,
/// pointer)`) holds no reference on it; an image made from such a Mat
/// without a copy is then valid only while that memory is, exactly as a
/// copy of the Mat would be. Clone the image (or the Mat) to keep it longer.
///
/// `order` says how to read the samples; nothing is reordered. Use it when
/// the channels are not in OpenCV's order, e.g. pixel_order::rgb for a Mat
/// filled from an RGB camera buffer.
///
/// \throws std::invalid_argument if `m` is empty, does not have 2
///         dimensions, is not of 8-bit samples, or has a channel count other
///         than channels_of(order); std::bad_alloc.
inline image from_mat(const cv::Mat& m, pixel_order order) {
  detail::opencv::check_mat(m);
  if (m.channels() != channels_of(order))
    throw std::invalid_argument("socketengine::from_mat: pixel order " +
                                std::string(to_string(order)) + " needs " +
                                std::to_string(channels_of(order)) + " channels, the cv::Mat has " +
                                std::to_string(m.channels()));
  // check_mat made sure both are positive.
  auto width = static_cast<std::uint32_t>(m.cols);
  auto height = static_cast<std::uint32_t>(m.rows);
  if (m.isContinuous()) {
    // The owner is a Mat header of its own: holding it holds one reference
    // on the pixels through OpenCV's counter, and releasing it (whichever
    // thread drops the last image copy) releases that reference.
    auto owner = std::make_shared<const cv::Mat>(m);
    return image::wrap(width, height, order, m.data, std::move(owner));
  }
  // Rows with gaps between them: image rows must follow one another, so
  // copy them row by row.
  image out(width, height, order);
  const std::size_t row = out.row_bytes();
  for (int y = 0; y < m.rows; ++y)
    std::memcpy(out.data() + static_cast<std::size_t>(y) * row, m.ptr<std::uint8_t>(y), row);
  return out;
}

/// As above, in OpenCV's order for the Mat's channel count: CV_8UC1 is
/// pixel_order::gray, CV_8UC3 pixel_order::bgr and CV_8UC4
/// pixel_order::bgra.
/// \throws std::invalid_argument if `m` is empty, does not have 2
///         dimensions, or is not CV_8UC1, CV_8UC3 or CV_8UC4; std::bad_alloc.
inline image from_mat(const cv::Mat& m) {
  detail::opencv::check_mat(m);
  switch (m.channels()) {
  case 1: return from_mat(m, pixel_order::gray);
  case 3: return from_mat(m, pixel_order::bgr);
  case 4: return from_mat(m, pixel_order::bgra);
  default:
    throw std::invalid_argument("socketengine::from_mat: the cv::Mat is " +
                                cv::typeToString(m.type()) +
                                ", but images have 1, 3 or 4 channels");
  }
}

/// A Mat header over the pixels of `img`: no copy is made. The Mat is
/// CV_8UC1, CV_8UC3 or CV_8UC4 after img.channels(), with img.height() rows
/// and img.width() columns, its samples in img.order() (not reordered: an
/// rgb image gives a Mat whose OpenCV functions see red as blue; convert
/// with cv::cvtColor if that matters). An empty image gives an empty Mat.
///
/// The Mat holds no reference on the pixels: it is valid only while `img`,
/// or a copy of it sharing the pixels, lives. Keep the image alongside the
/// Mat, or use to_mat for a Mat that owns its pixels. Writes through the Mat
/// change the image and every copy of it; the images the engine hands out
/// (`get_image`, image callbacks) are shared with other readers, so treat a
/// Mat over one of them as read-only.
///
/// \throws std::invalid_argument if a dimension does not fit in an int (the
///         type of OpenCV's sizes).
inline cv::Mat as_mat(const image& img) {
  if (img.empty()) return {};
  if (img.width() > static_cast<std::uint32_t>(INT_MAX) ||
      img.height() > static_cast<std::uint32_t>(INT_MAX))
    throw std::invalid_argument("socketengine::as_mat: the image is too large for a cv::Mat");
  // cv::Mat takes a non-const pointer for all its headers; the pixels are
  // shared and writable by design (see image), const only guards the image
  // object itself.
  return cv::Mat(static_cast<int>(img.height()), static_cast<int>(img.width()),
                 CV_8UC(img.channels()), const_cast<std::uint8_t*>(img.data()), img.row_bytes());
}

/// A deep copy of the pixels of `img` in a Mat that owns them, independent
/// of the image afterwards. Layout as for as_mat; an empty image gives an
/// empty Mat.
/// \throws std::invalid_argument as as_mat; cv::Exception if OpenCV cannot
///         allocate the pixels.
inline cv::Mat to_mat(const image& img) { return as_mat(img).clone(); }

} // namespace socketengine
