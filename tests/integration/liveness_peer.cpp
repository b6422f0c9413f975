// A peer in a process of its own, for the tests that stop one with SIGSTOP:
// a hub that listens (printing its port) or dials, with default options, and
// then waits to be killed.
//
// Usage: liveness_peer listen
//        liveness_peer dial PORT

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <socketengine/socketengine.hpp>

int main(int argc, char** argv) try {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "listen") {
    socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
    std::cout << "port " << h.port() << std::endl;
    for (;;) ::pause();
  }
  if (mode == "dial" && argc > 2) {
    socketengine::hub h({.listen = false});
    auto port = static_cast<std::uint16_t>(std::stoi(argv[2]));
    h.connect("stopped", "127.0.0.1", port);
    std::cout << "connected" << std::endl;
    for (;;) ::pause();
  }
  std::cerr << "usage: liveness_peer listen | dial PORT\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "liveness_peer: " << e.what() << '\n';
  return 1;
}
