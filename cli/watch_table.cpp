#include "watch_table.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace socketengine::cli {

namespace {

constexpr auto rate_span = std::chrono::seconds(1);

// `s` cut to at most `width` bytes, at a character boundary, with "…" in
// place of what is cut.
std::string cut(std::string s, std::size_t width) {
  if (s.size() <= width) return s;
  if (width == 0) return {};
  std::size_t at = width - 1;
  while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
  s.resize(at);
  s += "\u2026";
  return s;
}

// 1234567 as "1.2M": figures that fit a narrow column.
std::string short_number(double v) {
  if (v < 1000) return v < 10 && v != static_cast<double>(static_cast<long>(v))
                           ? fmt::format("{:.1f}", v)
                           : fmt::format("{:.0f}", v);
  static const char* const units[] = {"k", "M", "G", "T"};
  int u = -1;
  while (v >= 1000 && u < 3) {
    v /= 1000;
    ++u;
  }
  return v < 10 ? fmt::format("{:.1f}{}", v, units[u]) : fmt::format("{:.0f}{}", v, units[u]);
}

std::string short_age(double s) {
  if (s < 10) return fmt::format("{:.1f}s", s);
  if (s < 120) return fmt::format("{:.0f}s", s);
  if (s < 7200) return fmt::format("{:.0f}m", s / 60);
  return fmt::format("{:.0f}h", s / 3600);
}

} // namespace

void watch_table::count(const message_record& r, clock::time_point now) {
  std::lock_guard lk(mu_);
  auto [it, fresh] = entries_.try_emplace({r.peer, r.channel});
  auto& e = it->second;
  if (fresh) e.history.emplace_back(now, 0, 0);
  e.last = r;
  ++e.total;
  e.bytes += r.size;
  e.last_time = now;
}

std::vector<watch_table::row> watch_table::rows(clock::time_point now) {
  std::vector<row> out;
  std::lock_guard lk(mu_);
  out.reserve(entries_.size());
  for (auto& [key, e] : entries_) {
    e.history.emplace_back(now, e.total, e.bytes);
    // Keep one sample at least a second old, and none older than it.
    while (e.history.size() > 2 && std::get<0>(e.history[1]) <= now - rate_span)
      e.history.pop_front();
    const auto& [since, total_then, bytes_then] = e.history.front();
    const double span = std::chrono::duration<double>(now - since).count();
    row r;
    r.peer = key.first;
    r.channel = key.second;
    r.value = e.last.text;
    r.is_image = e.last.is_image;
    if (span > 0) {
      r.per_second = static_cast<double>(e.total - total_then) / span;
      r.bytes_per_second = static_cast<double>(e.bytes - bytes_then) / span;
    }
    r.last_size = e.last.size;
    r.age_seconds = std::chrono::duration<double>(now - e.last_time).count();
    r.total = e.total;
    out.push_back(std::move(r));
  }
  return out;
}

std::string watch_table::render(const std::vector<row>& rows, std::size_t width) {
  // Fixed columns, then the value in what is left.
  constexpr const char* head = "{:<16} {:<20} {:>9} {:>7} {:>6} {:>5} {}";
  std::string out;
  auto line = [&](std::string text) {
    out += cut(std::move(text), width);
    out += '\n';
  };
  line(fmt::format(fmt::runtime(head), "PEER", "CHANNEL", "RATE", "BYTES/S", "SIZE", "AGE", "VALUE"));
  for (const auto& r : rows) {
    line(fmt::format(fmt::runtime(head), cut(r.peer, 16), cut(r.channel, 20),
                     short_number(r.per_second) + (r.is_image ? " fps" : "/s"),
                     short_number(r.bytes_per_second), short_number(static_cast<double>(r.last_size)),
                     short_age(r.age_seconds), r.value));
  }
  return out;
}

std::string watch_table::plain(const std::vector<row>& rows) {
  std::string out;
  for (const auto& r : rows)
    out += fmt::format("{} {} {:.1f} {} {:.0f} B/s size {} age {:.1f}s total {} {}\n", r.peer,
                       r.channel, r.per_second, r.is_image ? "frames/s" : "msg/s",
                       r.bytes_per_second, r.last_size, r.age_seconds, r.total, r.value);
  return out;
}

} // namespace socketengine::cli
