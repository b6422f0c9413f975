// socketengine listen: a hub that prints every message that arrives.

#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "cli.hpp"
#include "messages.hpp"

namespace socketengine::cli {

int run_listen(const listen_args& a, const common_options& o, stop_signal& stop) {
  const message_printer printer(a.format, a.json);
  const auto timeout = seconds(a.timeout, "--timeout");
  // Declared before the hub, whose callbacks use them until it is gone.
  std::mutex mu;
  std::uint64_t printed = 0;
  bool done = false;
  auto h = make_hub(o, a.port, a.bind, a.unix_path);

  // Callbacks run one at a time on the hub's callback thread; the lock
  // keeps the count and stdout to one message at a time past the end.
  auto print = [&](const message_record& r) {
    std::lock_guard lk(mu);
    if (done) return;
    std::string line = printer.line(r);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout); // a line at a time, for pipes and `tail -f`
    if (a.count != 0 && ++printed >= a.count) {
      done = true;
      stop.wake();
    }
  };
  h->on_message([&](const std::shared_ptr<connection>& c, const std::string& channel,
                    const value& v) {
    if (a.all || !is_protocol_channel(channel)) print(value_record(c->name(), channel, v));
  });
  h->on_image([&](const std::shared_ptr<connection>& c, const image& img) {
    print(image_record(c->name(), img));
  });
  h->on_error([](const std::shared_ptr<connection>& c, std::error_code ec, const std::string& what) {
    fmt::print(stderr, "socketengine listen: {}{}: {}\n", c ? c->name() + ": " : "", what,
               ec.message());
  });
  // Where it listens, on stderr so that stdout holds messages only; port 0
  // asks the system for one, and a script reads it from here. Said only
  // once the handlers are in: a peer told the port may write at once, and
  // what arrives before them would not be printed.
  if (h->port() != 0) fmt::print(stderr, "listening on port {}\n", h->port());
  if (!a.unix_path.empty()) fmt::print(stderr, "listening on unix:{}\n", a.unix_path);
  std::fflush(stderr);

  const auto deadline = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                            : std::chrono::steady_clock::time_point::max();
  int status = exit_ok;
  for (;;) {
    const bool woken = stop.wait_until(deadline);
    std::lock_guard lk(mu);
    if (done) break; // the count reached
    if (stop.interrupted()) {
      // Without --count a signal is how listening ends.
      if (a.count != 0) status = exit_interrupted;
      break;
    }
    if (!woken) {
      // --timeout alone: the end of a listening period; with --count, too
      // few came.
      if (a.count != 0) status = exit_timed_out;
      break;
    }
  }
  std::uint64_t count = 0;
  {
    std::lock_guard lk(mu);
    done = true;
    count = printed;
  }
  h->close(); // not under mu: it waits for a callback that may want it
  if (status == exit_timed_out)
    throw error(exit_timed_out, fmt::format("{} of {} messages within {} s", count, a.count,
                                            a.timeout));
  return status;
}

} // namespace socketengine::cli
