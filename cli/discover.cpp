// socketengine discover: which hubs answer on the local network.

#include <fmt/format.h>

#include <stdexcept>

#include "cli.hpp"

namespace socketengine::cli {

namespace {

std::string endpoints(const discovered_hub& h) {
  std::string out;
  for (const auto& a : h.addresses) {
    if (!out.empty()) out += ' ';
    out += address{a, h.port}.text(); // [IPv6]:PORT as everywhere else
  }
  return out;
}

std::string needs(const discovered_hub& h) {
  std::string out = h.protocol > 0 ? fmt::format("native {}", h.protocol) : "legacy only";
  if (h.tls) out += ", tls";
  if (h.token) out += ", token";
  return out;
}

} // namespace

int run_discover(const discover_args& a, const common_options&, stop_signal& stop) {
  discover_options o;
  o.timeout = seconds(a.timeout, "--timeout");
  o.name = a.name;
  o.peers = a.peers;
  o.interfaces = a.interfaces;
  o.multicast = !a.no_multicast;
  std::vector<discovered_hub> found;
  try {
    found = discover(o);
  } catch (const std::invalid_argument& e) {
    throw error(exit_usage, e.what());
  } catch (const std::system_error& e) {
    throw error(exit_failure, e.what());
  }
  if (stop.poll()) return exit_interrupted;
  for (const auto& h : found) {
    if (a.json) {
      value j = {{"name", h.name},       {"id", h.id},     {"port", h.port},
                 {"addresses", h.addresses}, {"protocol", h.protocol}, {"tls", h.tls},
                 {"token", h.token},     {"from", h.from}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("{}  {}  ({}; id {})\n", h.name, endpoints(h), needs(h), h.id.substr(0, 8));
    }
  }
  std::fflush(stdout);
  if (found.empty()) {
    fmt::print(stderr, "socketengine: discover: no hub{} answered within {} s\n",
               a.name.empty() ? std::string() : fmt::format(" named \"{}\"", a.name), a.timeout);
    return exit_timed_out;
  }
  return exit_ok;
}

} // namespace socketengine::cli
