// socketengine get: the latest value on a channel, then exit.

#include <fmt/format.h>

#include "cli.hpp"
#include "messages.hpp"

namespace socketengine::cli {

int run_get(const get_args& a, const common_options& o, stop_signal& stop) {
  const auto timeout = seconds(a.timeout, "--timeout");
  auto h = make_hub(o, std::nullopt, {}, {});
  auto c = dial(*h, parse_address(a.address), o, stop);
  // A peer sends a channel's value when it writes it: what it wrote before
  // this connection existed is not sent again, so this waits for the next.
  // The wait is cut into slices so that Ctrl-C ends it.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<value> got;
  for (;;) {
    got = c->wait_for(a.channel, std::chrono::milliseconds(50));
    if (got || std::chrono::steady_clock::now() >= deadline || !c->is_open()) break;
    if (stop.poll()) {
      h->close();
      return exit_interrupted;
    }
  }
  if (!got) {
    if (!c->is_open())
      throw error(exit_failure, fmt::format("{} closed the connection ({}) before a value on \"{}\"",
                                            a.address, c->close_reason().message(), a.channel));
    throw error(exit_timed_out, fmt::format("no value on \"{}\" from {} within {} s", a.channel,
                                            a.address, a.timeout));
  }
  std::string text = got->is_binary() || !a.pretty
                         ? value_record(c->name(), a.channel, *got).text
                         : got->dump(2, ' ', false, value::error_handler_t::replace);
  fmt::print("{}\n", text);
  h->close();
  return exit_ok;
}

} // namespace socketengine::cli
