// Receives camera frames (see camera.cpp), as socket.engine's `getImg`
// would, but without polling: an image callback sees every frame.
//
// A hub listens (on port 8080 unless told otherwise), counts the frames
// that arrive until it has 30, tells the camera how many it got on channel
// "received", and prints a summary of the last one. Frames arrive decoded,
// in OpenCV's BGR order; with OpenCV, socketengine::as_mat(img) shows one
// without a copy (socketengine/opencv.hpp).
//
// Usage: viewer [port [bind-address]]
//   Port 0 lets the system choose. The port is announced on stderr as
//   `listening on PORT`; run camera with it.

#include <condition_variable>
#include <exception>
#include <iostream>
#include <mutex>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

namespace {
constexpr int frame_count = 30;
}

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "0.0.0.0");
  if (!args) return 2;

  socketengine::hub h({.port = args->port, .bind_address = args->address});
  std::cerr << "listening on " << h.port() << std::endl;

  std::mutex mu;
  std::condition_variable arrived;
  int frames = 0;
  socketengine::image last;
  std::shared_ptr<socketengine::connection> camera;
  // On the hub's callback thread, once per frame, in order.
  h.on_image([&](const std::shared_ptr<socketengine::connection>& from,
                 const socketengine::image& img) {
    std::lock_guard lk(mu);
    ++frames;
    last = img;
    camera = from;
    arrived.notify_all();
  });

  std::unique_lock lk(mu);
  if (!arrived.wait_for(lk, example::wait_limit, [&] { return frames >= frame_count; })) {
    std::cerr << "viewer: only " << frames << " frames arrived within "
              << example::wait_limit.count() << " s\n";
    return 1;
  }
  camera->write("received", frames);
  std::cout << "viewer: " << frames << " frames from \"" << camera->name() << "\", the last "
            << last.width() << "x" << last.height() << " with " << last.channels()
            << " channels" << std::endl;
  lk.unlock();
  h.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "viewer: " << e.what() << '\n';
  return 1;
}
