// The README's client example.
//
// A client connects to a host (127.0.0.1 port 8080 unless told otherwise),
// writes "client is connected!" on channel "test", and closes. Connecting
// retries while the host is not up yet, for at most ten seconds. close()
// sends what was queued before it closes the socket, so exiting right after
// the write loses nothing.
//
// Usage: client [port [address]]

#include <exception>
#include <iostream>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "127.0.0.1");
  if (!args) return 2;

  socketengine::client c({.address = args->address, .port = args->port});
  c.start();
  c.write("test", "client is connected!");
  c.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "client: " << e.what() << '\n';
  return 1;
}
