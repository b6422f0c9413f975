// Two hubs in one process, built against the installed package.
#include <socketengine/socketengine.hpp>

#include <chrono>
#include <cstdio>

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
  std::puts("find_package(socketengine) works");
  return 0;
}
