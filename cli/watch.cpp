// socketengine watch: a live table of every peer and channel.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "cli.hpp"
#include "watch_table.hpp"

namespace socketengine::cli {

namespace {

std::size_t terminal_width() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

void write_out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

} // namespace

int run_watch(const watch_args& a, const common_options& o, stop_signal& stop) {
  if (a.address.empty() == !a.port.has_value())
    throw error(exit_usage, "watch needs an ADDRESS to dial or --port to listen on (one of them)");
  const auto timeout = seconds(a.timeout, "--timeout");
  const bool tty = isatty(STDOUT_FILENO) != 0;
  // Redrawn in place a few times a second on a terminal; elsewhere a block
  // of plain lines at most once a second, for logs.
  auto interval = seconds(a.interval, "--interval");
  if (interval.count() <= 0) throw error(exit_usage, "--interval must be more than 0");
  if (!tty) interval = std::max<std::chrono::milliseconds>(interval, std::chrono::seconds(1));

  // Declared before the hub, whose callbacks use them until it is gone.
  watch_table table;
  std::mutex status_mu;
  std::string status; // the last error, shown under the table on a terminal
  auto h = make_hub(o, a.port, a.bind, {});
  h->on_message([&](const std::shared_ptr<connection>& c, const std::string& channel,
                    const value& v) {
    if (a.all || !is_protocol_channel(channel)) table.count(value_record(peer_of(*c), channel, v));
  });
  h->on_image([&](const std::shared_ptr<connection>& c, const image& img) {
    table.count(image_record(peer_of(*c), img));
  });
  h->on_error([&](const std::shared_ptr<connection>& c, std::error_code ec, const std::string& what) {
    auto text = fmt::format("{}{}: {}", c ? peer_of(*c) + ": " : "", what, ec.message());
    if (!tty) {
      fmt::print(stderr, "socketengine watch: {}\n", text);
      return;
    }
    std::lock_guard lk(status_mu);
    status = std::move(text);
  });
  std::string where;
  if (a.port) {
    where = fmt::format("listening on port {}", h->port());
    fmt::print(stderr, "{}\n", where);
    std::fflush(stderr);
  } else {
    auto to = parse_address(a.address);
    dial(*h, to, o, stop);
    where = "connected to " + to.text();
  }

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto end = timeout.count() > 0 ? start + timeout : clock::time_point::max();
  if (tty) write_out("\x1b[?25l\x1b[2J"); // no cursor; a clear screen
  for (std::int64_t k = 1;; ++k) {
    const auto due = std::min(start + interval * k, end);
    if (stop.wait_until(due) && stop.interrupted()) break;
    auto rows = table.rows();
    if (tty) {
      const auto width = terminal_width();
      std::size_t peers = 0;
      for (const auto& c : h->connections()) peers += c->is_open() ? 1 : 0;
      std::string screen = "\x1b[H";
      auto add = [&](const std::string& text) {
        for (std::size_t at = 0; at < text.size();) {
          auto nl = text.find('\n', at);
          if (nl == std::string::npos) nl = text.size();
          screen.append(text, at, nl - at);
          screen += "\x1b[K\n"; // the rest of the old line goes
          at = nl + 1;
        }
      };
      add(fmt::format("socketengine watch: {}, {} peer{} (Ctrl-C ends)", where, peers,
                      peers == 1 ? "" : "s"));
      add(watch_table::render(rows, width));
      {
        std::lock_guard lk(status_mu);
        if (!status.empty()) add("last error: " + status);
      }
      screen += "\x1b[J"; // and the old lines below
      write_out(screen);
    } else {
      write_out(watch_table::plain(rows));
    }
    if (due >= end) break;
  }
  if (tty) write_out("\x1b[?25h");
  h->close();
  return exit_ok;
}

} // namespace socketengine::cli
