// A C++ peer for the Python tests, written against the public API only: a
// hub with one connection to the Python hub under test, which echoes what it
// is sent and draws test patterns on request.
//
//   socketengine_python_cpp_peer dial PORT NAME   dial 127.0.0.1:PORT as NAME
//   socketengine_python_cpp_peer listen           listen on 127.0.0.1, any free port
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

#include <socketengine/socketengine.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
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

std::optional<std::uint16_t> port_of(std::string_view text) {
  std::uint16_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port == 0) return std::nullopt;
  return port;
}

int usage() {
  std::cerr << "usage: socketengine_python_cpp_peer dial PORT NAME | listen\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) try {
  const std::string_view mode = argc > 1 ? argv[1] : "";
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
  h.on_disconnect([&](const std::shared_ptr<se::connection>& c) {
    std::call_once(closed_once, [&] {
      auto reason = c->close_reason();
      emit("CLOSED", {{"reason", reason.message()},
                      {"peer_closing", reason == se::errc::peer_closing}});
      closed.set_value();
    });
  });
  h.on_error([](const std::shared_ptr<se::connection>&, std::error_code ec,
                const std::string& detail) { report(detail, ec); });
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
