#include "protocol/legacy/reader.hpp"

#include <algorithm>
#include <string>

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

protocol::reader::outcome reader::consume(protocol::receiver& to) {
  bool switched = false;
  bool fits = lines_.consume([&](std::string_view line) {
    switched = session_.handle_line(to, line);
    if (switched || !to.open()) lines_.stop(); // what follows a switch is frames
  });
  if (!to.open()) return outcome::stopped;
  if (switched) return outcome::switched;
  if (!fits) {
    to.fail(errc::line_too_long, "line longer than " +
                                     std::to_string(settings_.limits.max_line_bytes) +
                                     " bytes; closing the connection");
    return outcome::stopped;
  }
  lines_.shrink_if_idle();
  return outcome::more;
}

void reader::release_if_idle() noexcept {
  if (lines_.pending() == 0) lines_.release();
}

} // namespace socketengine::detail::legacy
