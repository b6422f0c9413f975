#pragma once
// What `socketengine watch` shows: every peer and channel with its latest
// value and its rates. Messages are counted as they arrive (on the engine's
// callback thread); the table is drawn from those counts on another thread,
// so the rates do not depend on how often it is drawn.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "messages.hpp"

namespace socketengine::cli {

class watch_table {
public:
  using clock = std::chrono::steady_clock;

  /// Counts a message (a value or an image). Any thread.
  void count(const message_record& r, clock::time_point now = clock::now());

  /// One line of the table.
  struct row {
    std::string peer, channel, value; // value as message_record::text
    bool is_image = false;
    double per_second = 0;      // messages (frames, for images) a second, over the last second
    double bytes_per_second = 0;
    std::size_t last_size = 0;
    double age_seconds = 0;     // since the last message
    std::uint64_t total = 0;
  };
  /// The rows, by peer then channel, with the rates as of `now`. Any thread.
  std::vector<row> rows(clock::time_point now = clock::now());

  /// The table as text `width` columns wide: a header and a line a row,
  /// each cut to the width.
  static std::string render(const std::vector<row>& rows, std::size_t width);
  /// The rows as plain lines, for output that is not a terminal.
  static std::string plain(const std::vector<row>& rows);

private:
  struct entry {
    message_record last;
    std::uint64_t total = 0;
    std::uint64_t bytes = 0;
    clock::time_point last_time;
    // (when, total, bytes) as of each rows() call within the last second and
    // one before it: the rates are taken over that span.
    std::deque<std::tuple<clock::time_point, std::uint64_t, std::uint64_t>> history;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, entry> entries_;
};

} // namespace socketengine::cli
