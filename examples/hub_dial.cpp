// The README's hub example, "Computer 2".
//
// A hub connects to another hub as 'hello!', prints every value that arrived
// on channel "test" (as JSON: `["hubs are connected"]`), and closes. The
// Python original reads `get_all('test')` right after connecting and can
// print `[]` if the value is still on its way; here we wait for it, for at
// most ten seconds.
//
// Usage: hub_dial [port [address]]   (default: 8080 127.0.0.1)

#include <exception>
#include <iostream>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "127.0.0.1");
  if (!args) return 2;

  // A hub always listens as well. The seed takes the first free port from
  // 8080; this side only dials, so any free port will do.
  socketengine::hub h({.port = 0});
  h.connect("hello!", args->address, args->port);

  const auto values = h.wait_for("test", example::wait_limit);
  if (values.empty()) {
    std::cerr << "hub_dial: nothing arrived on \"test\" within " << example::wait_limit.count()
              << " s\n";
    return 1;
  }
  std::cout << socketengine::value(values).dump() << std::endl;
  h.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "hub_dial: " << e.what() << '\n';
  return 1;
}
