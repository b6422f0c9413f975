// The README's host example.
//
// A host starts serving (on 127.0.0.1 port 8080 unless told otherwise),
// waits until a client sends something on channel "test", prints it, and
// closes. The Python original polls `get_ALL("test")` in a loop; here a
// handler on "test" hands the first value to the main thread, and we give up
// after ten seconds. The handler is in place before start(), so even a client
// that writes and hangs up at once is not missed.
//
// Usage: host [port [bind-address]]
//   Port 0 lets the system choose. The port is announced on stderr as
//   `listening on PORT`; run client with it.

#include <exception>
#include <future>
#include <iostream>
#include <string>

#include <socketengine/socketengine.hpp>

#include "example_args.hpp"

int main(int argc, char** argv) try {
  const auto args = example::parse_endpoint(argc, argv, "127.0.0.1");
  if (!args) return 2;

  // Declared before the host so that they outlive its callback thread.
  std::promise<socketengine::value> first;
  bool delivered = false; // touched only on the host's callback thread

  socketengine::host h({.address = args->address, .port = args->port});
  h.on("test", [&](const auto&, const socketengine::value& v) {
    if (delivered) return;
    delivered = true;
    first.set_value(v);
  });
  h.start();
  std::cerr << "listening on " << h.port() << std::endl;

  auto arrived = first.get_future();
  if (arrived.wait_for(example::wait_limit) != std::future_status::ready) {
    std::cerr << "host: nothing arrived on \"test\" within " << example::wait_limit.count()
              << " s\n";
    return 1;
  }
  // Python's print() shows a string without quotes; anything else as JSON.
  const auto item = arrived.get();
  std::cout << (item.is_string() ? item.get<std::string>() : item.dump()) << std::endl;
  h.close();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "host: " << e.what() << '\n';
  return 1;
}
