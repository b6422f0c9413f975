// socketengine bridge: a hub joined to an MQTT broker (socketengine::mqtt).

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include <socketengine/mqtt.hpp>

#include "cli.hpp"

namespace socketengine::cli {

namespace {

mqtt_bridge_options bridge_options(const bridge_args& a) {
  mqtt_bridge_options o;
  const auto broker = parse_address(a.broker, 1883);
  if (broker.unix_socket) throw error(exit_usage, "--broker must be a TCP address, not unix:PATH");
  o.host = broker.host;
  o.port = broker.port;
  o.client_id = a.client_id;
  o.username = a.username;
  if (!a.password_env.empty()) {
    const char* p = std::getenv(a.password_env.c_str());
    if (!p) throw error(exit_usage, "--mqtt-password-env: " + a.password_env + " is not set");
    o.password = p;
  }
  // Any of the TLS options asks for TLS: a certificate given for a plain
  // link would be ignored without a word.
  o.tls.enabled = a.tls || !a.tls_ca.empty() || !a.tls_cert.empty() || !a.tls_key.empty();
  o.tls.ca_file = a.tls_ca;
  o.tls.certificate_file = a.tls_cert;
  o.tls.private_key_file = a.tls_key;
  o.prefix = a.prefix;
  o.hub_name = a.hub_name;
  o.peers = a.peers;
  o.channels = a.channels;
  o.images = !a.no_images;
  o.image_format = a.image_format;
  o.max_image_bytes = a.max_image_bytes;
  o.min_image_interval = seconds(a.image_interval, "--image-interval");
  o.qos = a.qos;
  for (const auto& in : a.inbound) {
    // FILTER or FILTER=PEER: a topic filter never holds '='.
    const auto eq = in.find('=');
    o.inbound.push_back({.topic_filter = in.substr(0, eq),
                         .peer = eq == std::string::npos ? std::string() : in.substr(eq + 1)});
  }
  return o;
}

} // namespace

int run_bridge(const bridge_args& a, const common_options& o, stop_signal& stop) {
  const auto timeout = seconds(a.timeout, "--timeout");
  auto options = bridge_options(a);
  std::vector<address> peers;
  for (const auto& p : a.connect)
    peers.push_back(parse_address(p));

  auto h = make_hub(o, a.port, a.bind, {});
  h->on_error(
      [](const std::shared_ptr<connection>& c, std::error_code ec, const std::string& what) {
        fmt::print(stderr, "socketengine bridge: {}{}: {}\n", c ? c->name() + ": " : "", what,
                   ec.message());
      });
  std::unique_ptr<mqtt_bridge> bridge;
  try {
    bridge = std::make_unique<mqtt_bridge>(*h, std::move(options));
  } catch (const std::invalid_argument& e) {
    throw error(exit_usage, e.what());
  }
  if (a.port) fmt::print(stderr, "listening on port {}\n", h->port());
  fmt::print(stderr, "bridging to {} as {}\n", a.broker, a.hub_name);
  std::fflush(stderr);
  for (const auto& to : peers)
    dial(*h, to, o, stop);

  // Says when the broker comes and goes; the bridge redials by itself.
  const auto end = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                       : std::chrono::steady_clock::time_point::max();
  bool was_connected = false;
  std::string said;
  for (;;) {
    const auto next =
        std::min(end, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    if (stop.wait_until(next) && stop.interrupted()) break;
    if (std::chrono::steady_clock::now() >= end) break;
    const bool connected = bridge->connected();
    if (connected != was_connected) {
      std::fputs(connected ? "broker connected\n" : "broker lost; redialling\n", stderr);
      std::fflush(stderr);
      was_connected = connected;
    }
    // Why it is not, once per reason: a refusal is retried, not fatal.
    if (auto why = bridge->last_error(); why != said) {
      if (!why.empty()) fmt::print(stderr, "socketengine bridge: {}; redialling\n", why);
      std::fflush(stderr);
      said = std::move(why);
    }
  }
  const auto s = bridge->stats();
  fmt::print(stderr,
             "bridge: {} published ({} acknowledged, {} replaced by newer), {} received, {} "
             "written to peers, {} topics\n",
             s.published, s.acknowledged, s.replaced, s.received, s.written, s.topics);
  bridge.reset();
  h->close();
  return exit_ok;
}

} // namespace socketengine::cli
