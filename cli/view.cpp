// socketengine view: a live viewer in the browser (see viewer/server.hpp).

#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "cli.hpp"
#include "messages.hpp"
#include "viewer/model.hpp"
#include "viewer/server.hpp"

namespace socketengine::cli {

int run_view(const view_args& a, const common_options& o, stop_signal& stop) {
  if (a.connect.empty() && !a.listen)
    throw error(exit_usage, "view needs peers: --connect ADDRESS to dial one, or --listen PORT");
  if (a.max_clients == 0) throw error(exit_usage, "--max-clients must be 1 or more");
  const auto timeout = seconds(a.timeout, "--timeout");
  std::vector<address> peers;
  for (const auto& text : a.connect) peers.push_back(parse_address(text));

  // Declared before the hub, whose callbacks feed it until the hub is gone.
  viewer::model m(a.frames == "png" ? viewer::frame_format::png : viewer::frame_format::jpeg,
                  a.jpeg_quality);
  viewer::server_options so;
  so.bind = a.bind;
  so.port = a.port;
  so.max_clients = a.max_clients;
  so.write_timeout = seconds(a.write_timeout, "--write-timeout");
  if (so.write_timeout.count() <= 0) throw error(exit_usage, "--write-timeout must be more than 0");
  std::unique_ptr<viewer::server> web;
  try {
    web = std::make_unique<viewer::server>(m, so);
  } catch (const std::system_error& e) {
    throw error(exit_failure, fmt::format("cannot serve the viewer on {}:{}: {}", a.bind, a.port,
                                          e.code().message()));
  }
  m.on_change([&web] { web->notify(); });

  auto h = make_hub(o, a.listen, a.listen_bind, {});
  h->on_message([&](const std::shared_ptr<connection>& c, const std::string& channel,
                    const value& v) {
    if (a.all || !is_protocol_channel(channel)) m.on_value(peer_of(*c), channel, v);
  });
  h->on_image([&](const std::shared_ptr<connection>& c, const image& img) {
    m.on_frame(peer_of(*c), img);
  });
  // A peer that dials in is known by its name, which may come after the
  // connection: until then its first value or frame shows it connected.
  h->on_connect([&](const std::shared_ptr<connection>& c) {
    if (c->kind() == connection_kind::local || !c->name().empty()) m.on_peer(peer_of(*c), true);
  });
  h->on_disconnect([&](const std::shared_ptr<connection>& c) { m.on_peer(peer_of(*c), false); });
  h->on_link_down([&](const std::shared_ptr<connection>& c) { m.on_peer(peer_of(*c), false); });
  h->on_link_up([&](const std::shared_ptr<connection>& c) { m.on_peer(peer_of(*c), true); });
  h->on_error([](const std::shared_ptr<connection>& c, std::error_code ec, const std::string& what) {
    fmt::print(stderr, "socketengine view: {}{}: {}\n", c ? peer_of(*c) + ": " : "", what,
               ec.message());
  });

  const auto host = a.bind.find(':') != std::string::npos ? "[" + a.bind + "]" : a.bind;
  fmt::print(stderr, "viewer on http://{}:{}/\n", host, web->port());
  if (a.listen) fmt::print(stderr, "listening on port {}\n", h->port());
  std::fflush(stderr);
  for (const auto& to : peers) {
    auto c = dial(*h, to, o, stop);
    m.on_peer(peer_of(*c), true);
  }

  const auto end = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                       : std::chrono::steady_clock::time_point::max();
  while (stop.wait_until(end) && !stop.interrupted()) {
  }
  h->close();
  h.reset();
  web.reset();
  return exit_ok;
}

} // namespace socketengine::cli
