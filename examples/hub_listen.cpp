// The README's hub example, "Computer 1".
//
// A hub listens (on port 8080 unless told otherwise), waits until another hub
// connects, writes "hubs are connected" on channel "test" to every
// connection, and closes. The Python original busy-waits on
// `h.connections == []`; here the hub wakes us when a peer arrives, and we
// give up after ten seconds. close() sends what was queued before it closes
// the socket, so exiting right after the write loses nothing.
//
// Usage: hub_listen [port [bind-address]]
//   Port 0 lets the system choose. The port is announced on stderr as
//   `listening on PORT`; run hub_dial with it.

#include <exception>
#include <iostream>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "0.0.0.0");
  if (!args) return 2;

  socketengine::hub h({.port = args->port, .bind_address = args->address});
  std::cerr << "listening on " << h.port() << std::endl;

  if (!h.wait_for_connection(example::wait_limit)) {
    std::cerr << "hub_listen: no hub connected within " << example::wait_limit.count() << " s\n";
    return 1;
  }
  if (h.write_all("test", "hubs are connected") == 0) {
    std::cerr << "hub_listen: the connection closed before the write\n";
    return 1;
  }
  h.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "hub_listen: " << e.what() << '\n';
  return 1;
}
