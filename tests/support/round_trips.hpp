#pragma once
// Round trips between two connections as figures: what the tests that
// check one peer's load does not reach another print and compare.

#include <socketengine/connection.hpp>
#include <socketengine/engine.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/test_support.hpp"

namespace socketengine::test {

/// The connection of `e` named `name`, or null.
inline std::shared_ptr<connection> find_named(const engine& e, std::string_view name) {
  for (auto& c : e.connections())
    if (c->name() == name) return c;
  return nullptr;
}

/// The `__name_conn` line a hub sends first when it dials, naming it `name`.
inline std::string name_line(std::string_view name) {
  return R"({"type":"__name_conn","data":")" + std::string(name) + "\"}\n";
}

/// The 99th percentile of sorted, non-empty `v`.
inline double p99(const std::vector<double>& v) { return v[v.size() * 99 / 100]; }

/// One round trip between `a` and `b` (a "ping" one way, a "pong" back), in
/// microseconds; 1e12 if either did not arrive within the patience.
inline double round_trip_us(connection& a, connection& b, int i) {
  auto start = std::chrono::steady_clock::now();
  auto since = a.version("pong");
  auto pings = b.version("ping");
  a.write("ping", i);
  if (!b.wait_for_next("ping", patience, pings)) return 1e12;
  b.write("pong", i);
  if (!a.wait_for_next("pong", patience, since)) return 1e12;
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Round trips between `a` and `b` until `done()` holds or `timeout` has
/// passed; sorted.
template <class Done>
std::vector<double> round_trips_until(connection& a, connection& b, Done&& done,
                                      std::chrono::milliseconds timeout = patience) {
  std::vector<double> rtts;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; !done() && std::chrono::steady_clock::now() < deadline; ++i)
    rtts.push_back(round_trip_us(a, b, i));
  std::sort(rtts.begin(), rtts.end());
  return rtts;
}

/// 200 round trips between `a` and `b`, sorted: what the others compare with.
inline std::vector<double> baseline_round_trips(connection& a, connection& b) {
  int n = 0;
  return round_trips_until(a, b, [&] { return n++ == 200; });
}

/// "N round trips, median M us, p99 P us, max X us" of sorted `v`.
inline std::string describe(const std::vector<double>& v) {
  if (v.empty()) return "no round trips";
  char text[160];
  std::snprintf(text, sizeof text, "%zu round trips, median %.0f us, p99 %.0f us, max %.0f us",
                v.size(), v[v.size() / 2], p99(v), v.back());
  return text;
}

} // namespace socketengine::test
