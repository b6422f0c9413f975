// Two hubs in one process, built against the installed package.
#include <socketengine/socketengine.hpp>
#ifdef CONSUMER_HAS_MQTT
#include <socketengine/mqtt.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <stdexcept>

int main() {
  using namespace std::chrono_literals;
  socketengine::hub a({.port = 0});
  socketengine::hub b({.port = 0});
  auto c = b.connect("consumer", "127.0.0.1", a.port());
  c->write("installed", true);
  auto got = a.wait_for("installed", 10s);
  if (got.size() != 1 || got[0] != true) {
    std::fprintf(stderr, "consumer: value did not arrive\n");
    return 1;
  }
#ifdef CONSUMER_HAS_MQTT
  // Linked against libmosquitto through the package: a bridge without a
  // hub name is refused before it dials anything.
  try {
    socketengine::mqtt_bridge bridge(a, {});
    std::fprintf(stderr, "consumer: a bridge without hub_name was accepted\n");
    return 1;
  } catch (const std::invalid_argument&) {
  }
#endif
  std::puts("find_package(socketengine) works");
  return 0;
}
