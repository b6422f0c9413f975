// Streams camera frames to a viewer (see viewer.cpp), as a robot's camera
// would over socket.engine's `writeImg`.
//
// A hub dials the viewer as "camera" and sends 30 frames of 640x480 BGR, a
// gradient that moves from frame to frame, standing in for a camera. Each
// frame is a PNG in one line, with one frame in flight until the viewer
// acknowledges it; wait_for_image_slot() paces the loop, so the next frame
// is encoded while the previous one travels and none is replaced. Then it
// waits for the viewer's count and prints both.
//
// With OpenCV, a real camera is two lines away (socketengine/opencv.hpp):
//   cv::Mat frame;  camera >> frame;  viewer->write_image(socketengine::from_mat(frame));
//
// Usage: camera [port [address]]   (default: 8080 127.0.0.1)

#include <cstdint>
#include <exception>
#include <iostream>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

namespace {

constexpr int frame_count = 30;

// A stand-in for a camera: a diagonal gradient that shifts with `t`.
socketengine::image make_frame(int t) {
  socketengine::image img(640, 480, socketengine::pixel_order::bgr);
  std::uint8_t* p = img.data();
  for (std::uint32_t y = 0; y < img.height(); ++y)
    for (std::uint32_t x = 0; x < img.width(); ++x) {
      *p++ = static_cast<std::uint8_t>(x / 3 + static_cast<std::uint32_t>(t) * 4); // blue
      *p++ = static_cast<std::uint8_t>(y / 2);                                     // green
      *p++ = static_cast<std::uint8_t>((x + y) / 5);                               // red
    }
  return img;
}

} // namespace

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "127.0.0.1");
  if (!args) return 2;

  socketengine::hub h({.port = 0});
  auto viewer = h.connect("camera", args->address, args->port);

  int sent = 0;
  for (int t = 0; t < frame_count; ++t) {
    // Wait until no frame is pending: one may still be in flight.
    if (!viewer->wait_for_image_slot(example::wait_limit)) break;
    if (viewer->write_image(make_frame(t)) != socketengine::image_status::dropped) ++sent;
  }
  const auto received = viewer->wait_for("received", example::wait_limit);
  std::cout << "camera: sent " << sent << " frames, the viewer received "
            << (received ? received->dump() : "none") << std::endl;
  h.close();
  return sent == frame_count && received == socketengine::value(frame_count) ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "camera: " << e.what() << '\n';
  return 1;
}
