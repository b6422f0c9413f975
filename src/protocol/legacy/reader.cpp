#include "protocol/legacy/reader.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <socketengine/error.hpp>

namespace socketengine::detail::legacy {

namespace {
// The engine never reads less than this at a time: the seed's 256-byte reads
// are one of the reasons it was slow.
constexpr std::size_t min_read_size = 4096;
} // namespace

reader::reader(const protocol::settings& s, int offered)
    : settings_(s), lines_(s.limits.max_line_bytes, std::max(min_read_size, s.read_size),
                           s.budget.get()),
      session_(s, offered, /*switched=*/false) {}

reader::reader(const protocol::settings& s, int offered, std::string_view first)
    : reader(s, offered) {
  lines_.assign(first);
}

protocol::reader::outcome reader::consume(protocol::receiver& to) {
  bool switched = false;
  if (job_) {
    // The large line handed off at the last pause, decoded now.
    auto done = std::move(job_);
    job_taken_ = false;
    switched = session_.handle(to, std::move(done->result));
    if (!to.open()) return outcome::stopped;
    if (switched) return outcome::switched;
  }
  bool fits = lines_.consume([&](std::string_view line) {
    if (line.size() >= protocol::off_thread_bytes) {
      try {
        // The job first: take() either moves the line's buffer out or
        // leaves the reader as it was, and the line must stay readable
        // here if it throws.
        auto j = std::make_shared<job>(job{settings_, {}, {}});
        j->line = lines_.take(line);
        job_ = std::move(j);
        lines_.stop();
        return;
      } catch (const std::bad_alloc&) {
        // No memory to hand it off with: decoded here after all.
      }
    }
    switched = session_.handle_line(to, line);
    if (switched || !to.open()) lines_.stop(); // what follows a switch is frames
  });
  if (!to.open()) return outcome::stopped;
  if (switched) return outcome::switched;
  if (job_) return outcome::paused;
  if (!fits) {
    to.fail(errc::line_too_long, "line longer than " +
                                     std::to_string(settings_.limits.max_line_bytes) +
                                     " bytes; closing the connection");
    return outcome::stopped;
  }
  lines_.shrink_if_idle();
  return outcome::more;
}

std::function<void()> reader::take_work() {
  if (!job_ || std::exchange(job_taken_, true)) return {};
  return [j = job_] {
    try {
      j->result = session::prepare_line(j->settings, j->line.line);
    } catch (const std::bad_alloc&) {
      j->result = {};
      j->result.what = prepared::kind::rejected;
      j->result.error = std::make_error_code(std::errc::not_enough_memory);
      j->result.detail = "out of memory decoding a line of " +
                         std::to_string(j->line.line.size()) + " bytes";
    }
    // The line's buffer goes as soon as it is decoded.
    j->line = {};
  };
}

void reader::release_if_idle() noexcept {
  if (lines_.pending() == 0) lines_.release();
}

} // namespace socketengine::detail::legacy
