// A C++ peer for the Python tests, written against the public API only: a
// hub with one connection to the Python hub under test, which echoes what it
// is sent and draws test patterns on request.
//
//   socketengine_python_cpp_peer dial PORT NAME   dial 127.0.0.1:PORT as NAME
//   socketengine_python_cpp_peer listen           listen on 127.0.0.1, any free port
//   socketengine_python_cpp_peer camera PORT FPS SECONDS
//                                                 a stamped camera (below)
//
// On its connection it
//   - writes every image it receives back (on the same connection),
//   - answers a value on `ping` with the same value on `pong`,
//   - answers {"width": W, "height": H, "order": O} on `pattern` (O one of
//     gray, bgr, rgb, bgra, rgba) with a W x H image in that pixel order whose
//     sample c of pixel (x, y) is (x*3 + y*7 + c) & 255, c counted in memory
//     order; with "encoding": "png", "jpeg" or "raw" in the request, the
//     image goes in that encoding to a native peer (default: the hub's, PNG).
//
// Events go to stdout as `TAG <json>` lines, as the Node.js peers' do:
//   LISTENING <port>                      (listen mode)
//   CONNECTED {"kind": 1|2}
//   NAMED <name>                          the peer's __name_conn arrived
//   GOT_IMAGE {"width", "height", "order"}
//   CLOSED {"reason", "peer_closing"}     then the program exits with 0
//   ERROR {"code", "detail"}              anything the engine reported
// It exits by itself (status 3) after 30 s, so a test that died can never
// leave it running.
//
// Camera mode, for the viewer's browser tests and glass-to-glass benchmark:
// it dials 127.0.0.1:PORT as "camera" and sends FPS frames a second for
// SECONDS seconds, then exits with 0 (earlier, with CLOSED, if the link
// ends). Each frame is 640x480 BGR, sent as native JPEG, a moving pattern
// under a stamp that carries its frame number n (counted from 0) in blocks
// big enough to survive JPEG: along the top, 16 blocks of 40x40 pixels, bit
// 15 of n first, white for 1 and black for 0; under them, a second row of 16
// blocks with each bit inverted, so that a reader can tell a frame number
// from a torn or misread one. Per frame it prints
//   SENT <n> <epoch ms>       the wall-clock time the frame was taken (its
//                             pixels drawn, before encoding), in milliseconds
//                             since 1970 with fractions
// after handing it to the engine. Frames are paced by deadlines (frame n is
// due at start + n / FPS); one that falls more than a frame behind moves the
// schedule on rather than sending a burst to catch up.

#include <socketengine/socketengine.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace se = socketengine;
using namespace std::chrono_literals;

namespace {

constexpr auto self_destruct = 30s;

std::mutex out_mu; // callbacks and main both print

void emit(std::string_view tag, const se::value& payload) {
  std::lock_guard lk(out_mu);
  // endl flushes: the test reads events as they happen, through a pipe.
  std::cout << tag << ' ' << payload.dump() << std::endl;
}

std::optional<se::pixel_order> order_named(std::string_view name) {
  for (auto order : {se::pixel_order::gray, se::pixel_order::bgr, se::pixel_order::rgb,
                     se::pixel_order::bgra, se::pixel_order::rgba})
    if (se::to_string(order) == name) return order;
  return std::nullopt;
}

std::optional<se::image_encoding> encoding_named(std::string_view name) {
  if (name == "png") return se::image_encoding::png;
  if (name == "jpeg") return se::image_encoding::jpeg;
  if (name == "raw") return se::image_encoding::raw;
  return std::nullopt;
}

se::image pattern(std::uint32_t width, std::uint32_t height, se::pixel_order order) {
  se::image img(width, height, order);
  const auto channels = static_cast<std::uint32_t>(img.channels());
  auto* p = img.data();
  for (std::uint32_t y = 0; y < height; ++y)
    for (std::uint32_t x = 0; x < width; ++x)
      for (std::uint32_t c = 0; c < channels; ++c)
        *p++ = static_cast<std::uint8_t>((x * 3 + y * 7 + c) & 255);
  return img;
}

void report(std::string_view what, std::error_code ec) {
  if (ec) emit("ERROR", {{"code", ec.message()}, {"detail", std::string(what)}});
}

// Reports the first close (CLOSED, why) and fulfils `closed` then, and
// reports every error. `closed` and `once` must outlive the hub, whose
// destructor may still run the callbacks.
void report_close(se::hub& h, std::promise<void>& closed, std::once_flag& once) {
  h.on_disconnect([&closed, &once](const std::shared_ptr<se::connection>& c) {
    std::call_once(once, [&] {
      auto reason = c->close_reason();
      emit("CLOSED", {{"reason", reason.message()},
                      {"peer_closing", reason == se::errc::peer_closing}});
      closed.set_value();
    });
  });
  h.on_error([](const std::shared_ptr<se::connection>&, std::error_code ec,
                const std::string& detail) { report(detail, ec); });
}

std::optional<std::uint16_t> port_of(std::string_view text) {
  std::uint16_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port == 0) return std::nullopt;
  return port;
}

std::optional<int> positive_of(std::string_view text) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n <= 0) return std::nullopt;
  return n;
}

int usage() {
  std::cerr << "usage: socketengine_python_cpp_peer dial PORT NAME | listen | "
               "camera PORT FPS SECONDS\n";
  return 2;
}

// --- camera mode ---

constexpr std::uint32_t camera_width = 640;
constexpr std::uint32_t camera_height = 480;
constexpr std::uint32_t stamp_bits = 16;
constexpr std::uint32_t stamp_block = 40; // a multiple of JPEG's 8x8 blocks

// Frame n: diagonal bars that move with n, under the stamp (see the top).
void draw_frame(se::image& img, std::uint32_t n) {
  auto* p = img.data();
  for (std::uint32_t y = 0; y < camera_height; ++y) {
    for (std::uint32_t x = 0; x < camera_width; ++x, p += 3) {
      const auto block_row = y / stamp_block;
      if (block_row < 2) {
        const auto bit = (n >> (stamp_bits - 1 - x / stamp_block)) & 1u;
        const std::uint8_t level = (bit != (block_row == 1)) ? 255 : 0;
        p[0] = p[1] = p[2] = level;
        continue;
      }
      const auto phase = x + y + n * 8;
      p[0] = static_cast<std::uint8_t>((phase * 2) & 255);
      p[1] = static_cast<std::uint8_t>(((phase / 64) & 1) ? 200 : 40);
      p[2] = static_cast<std::uint8_t>((x * 255) / camera_width);
    }
  }
}

double epoch_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_camera(std::uint16_t port, int fps, int seconds) {
  se::hub_options options;
  options.listen = false;
  options.reconnect.enabled = false;
  options.images.encoding = se::image_encoding::jpeg;
  std::promise<void> closed;
  std::once_flag closed_once;
  auto done = closed.get_future();
  se::hub h(options);
  report_close(h, closed, closed_once);

  auto conn = h.connect("camera", "127.0.0.1", port);
  emit("CONNECTED", {{"kind", static_cast<int>(conn->kind())}});

  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<clock::duration>(std::chrono::seconds(1)) / fps;
  const auto start = clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  auto due = start;
  for (std::uint32_t n = 0; due < end; ++n, due += period) {
    if (done.wait_until(due) == std::future_status::ready) return 0;
    // Behind by more than a frame (a slow encode, a busy machine): start the
    // schedule again from now instead of sending the missed frames at once.
    if (const auto now = clock::now(); now - due > period) due = now;
    // A new image each time: images share their pixels when copied, and the
    // engine may still hold the last one.
    se::image img(camera_width, camera_height, se::pixel_order::bgr);
    draw_frame(img, n);
    const double taken_ms = epoch_ms(); // its pixels are all there: the shutter closes
    std::error_code ec;
    conn->write_image(img, ec);
    if (ec) {
      report("sending a frame", ec);
      return 1;
    }
    std::lock_guard lk(out_mu);
    std::cout << "SENT " << n << ' ' << std::fixed << std::setprecision(3) << taken_ms
              << std::endl;
  }
  h.close();
  return 0;
}

} // namespace

int main(int argc, char** argv) try {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "camera") {
    std::optional<std::uint16_t> port;
    std::optional<int> fps, seconds;
    if (argc == 5) {
      port = port_of(argv[2]);
      fps = positive_of(argv[3]);
      seconds = positive_of(argv[4]);
    }
    if (!port || !fps || !seconds || *fps > 1000) return usage();
    return run_camera(*port, *fps, *seconds);
  }
  const bool listen = mode == "listen" && argc == 2;
  std::optional<std::uint16_t> dial_port;
  if (mode == "dial" && argc == 4) dial_port = port_of(argv[2]);
  if (!listen && !dial_port) return usage();

  se::hub_options options;
  if (listen) {
    options.port = 0;
    options.bind_address = "127.0.0.1";
  } else {
    options.listen = false;
  }
  // The peer reports the close and exits: a dialled link must end, not redial.
  options.reconnect.enabled = false;
  // Before the hub, whose destructor may still run the callbacks using them.
  std::promise<void> closed;
  std::once_flag closed_once;
  se::hub h(options);

  h.on_connect([](const std::shared_ptr<se::connection>& c) {
    emit("CONNECTED", {{"kind", static_cast<int>(c->kind())}});
  });
  report_close(h, closed, closed_once);
  h.on("__name_conn", [](const std::shared_ptr<se::connection>&, const se::value& name) {
    emit("NAMED", name);
  });
  h.on_image([](const std::shared_ptr<se::connection>& c, const se::image& img) {
    emit("GOT_IMAGE", {{"width", img.width()},
                       {"height", img.height()},
                       {"order", se::to_string(img.order())}});
    std::error_code ec;
    c->write_image(img, ec);
    report("echoing an image", ec);
  });
  h.on("ping", [](const std::shared_ptr<se::connection>& c, const se::value& v) {
    std::error_code ec;
    c->write("pong", v, ec);
    report("answering ping", ec);
  });
  h.on("pattern", [](const std::shared_ptr<se::connection>& c, const se::value& request) {
    auto width = request.value("width", 0u);
    auto height = request.value("height", 0u);
    auto order = order_named(request.value("order", ""));
    if (width == 0 || height == 0 || !order) {
      emit("ERROR", {{"code", "bad pattern request"}, {"detail", request.dump()}});
      return;
    }
    auto encoding = encoding_named(request.value("encoding", "png"));
    if (!encoding) {
      emit("ERROR", {{"code", "bad pattern request"}, {"detail", request.dump()}});
      return;
    }
    std::error_code ec;
    c->write_image(pattern(width, height, *order), *encoding, ec);
    report("writing a pattern", ec);
  });

  if (listen)
    emit("LISTENING", h.port());
  else
    h.connect(argv[3], "127.0.0.1", *dial_port);

  if (closed.get_future().wait_for(self_destruct) != std::future_status::ready) {
    std::cerr << "socketengine_python_cpp_peer: self-destruct after "
              << std::chrono::seconds(self_destruct).count() << " s\n";
    return 3;
  }
  h.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "socketengine_python_cpp_peer: " << e.what() << '\n';
  return 1;
}
