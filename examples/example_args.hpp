#pragma once
// Command-line handling shared by the examples, so that each example shows
// only the library calls. Every example takes `[port [address]]`, where the
// address may also be a Unix domain socket, `unix:PATH` (its port is then
// ignored).

#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace example {

/// How long an example waits for its peer or for a value before giving up
/// (the Python originals wait forever).
inline constexpr std::chrono::seconds wait_limit{20};

/// Where to listen or where to connect.
struct endpoint {
  std::uint16_t port = 8080; ///< the seed's port
  std::string address;
};

/// Reads `[port [address]]` from the command line, defaulting to port 8080
/// and `default_address`. On bad input prints a usage line to stderr and
/// returns empty.
inline std::optional<endpoint> parse_endpoint(int argc, char** argv,
                                              std::string_view default_address) {
  const std::string_view program = argc > 0 ? argv[0] : "example";
  endpoint ep{.port = 8080, .address = std::string(default_address)};
  bool ok = argc <= 3;
  if (ok && argc > 1) {
    const std::string_view text = argv[1];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ep.port);
    ok = ec == std::errc{} && end == text.data() + text.size();
  }
  if (ok && argc > 2) ep.address = argv[2];
  if (!ok) {
    std::cerr << "usage: " << program << " [port [address]]   (default: 8080 " << default_address
              << "; address may be unix:PATH)\n";
    return std::nullopt;
  }
  return ep;
}

} // namespace example
