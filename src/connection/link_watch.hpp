#pragma once
// The clock side of a connection: whether a message that has begun is
// arriving fast enough, whether an accepted peer has named itself in time,
// and whether a native peer is still there (heartbeats). The engine asks
// every connection a few times per heartbeat interval (check); a check
// reads only counters the connection keeps anyway, so the read path pays
// nothing for it.
//
// A partial message is told apart from the next one by where it starts in
// the stream (bytes read so far minus bytes held), so a peer streaming
// messages that straddle reads is never mistaken for a slow one.
//
// Threading: one thread at a time (the I/O thread).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace socketengine::detail {

struct watch_settings {
  /// limits::min_receive_rate and receive_grace; a rate of 0 is no deadline.
  std::size_t min_receive_rate = 0;
  std::chrono::milliseconds receive_grace{0};
  /// limits::identify_timeout, for connections that must identify
  /// themselves; 0 or less: no deadline.
  std::chrono::milliseconds identify_timeout{0};
  /// keepalive_options: 0 or less is no heartbeat.
  std::chrono::milliseconds heartbeat_interval{0};
  int heartbeat_misses = 3;
  /// limits::slow_peer_timeout under overflow_policy::disconnect; 0 or
  /// less: a full queue is never a reason to close.
  std::chrono::milliseconds slow_peer_timeout{0};
  /// auth_options::timeout, with a token; 0: no handshake to time. Kept by
  /// the connection (its handshake's reader decides), not by check().
  std::chrono::milliseconds auth_timeout{0};

  /// How often check() should run for these settings to be kept to within
  /// a quarter of the shortest of them (at most once a second).
  [[nodiscard]] std::chrono::milliseconds tick() const noexcept;
};

class link_watch {
public:
  using clock = std::chrono::steady_clock;

  /// What the connection should do.
  enum class verdict {
    fine,         ///< nothing
    ping,         ///< send a heartbeat ping
    too_slow,     ///< close: errc::receive_timeout
    unidentified, ///< close: errc::not_identified
    unresponsive, ///< close: errc::peer_unresponsive
    slow_consumer ///< close: errc::slow_consumer
  };

  /// What the connection reports of itself at a check.
  struct reading {
    std::uint64_t bytes_in = 0; ///< bytes read so far
    std::size_t pending = 0;    ///< bytes held for an unfinished message
    bool identified = true;     ///< named itself, or need not
    /// Reading waits for work of this side's (a large message decoding):
    /// counts as hearing from the peer, and this side pings the peer each
    /// interval of it, since its pings go unanswered until reading resumes.
    bool waiting = false;
    bool heartbeats = false;    ///< the peer answers pings (native)
    std::uint64_t bytes_out = 0; ///< bytes written so far
    /// Bytes wait to be written, or a write is in progress: bytes_out
    /// moving meanwhile is the peer taking a backlog, which counts as
    /// hearing from it.
    bool writing = false;
    /// Since when the write queue has been full without draining.
    std::optional<clock::time_point> full_since{};
  };

  explicit link_watch(clock::time_point born) noexcept : born_(born), last_heard_(born) {}

  /// Looks at the connection at `now`. On a verdict that closes,
  /// explain() says why in words.
  verdict check(const watch_settings& s, clock::time_point now, const reading& r);

  /// Why the last check closed the connection, for the error handler.
  [[nodiscard]] std::string explain(const watch_settings& s, verdict v) const;

private:
  clock::time_point born_;
  clock::time_point last_heard_;          // when bytes_in last moved
  std::uint64_t heard_bytes_ = 0;         // bytes_in then
  std::uint64_t sent_bytes_ = 0;          // bytes_out at the last check
  std::optional<clock::time_point> pinged_; // last ping since last_heard_
  std::optional<clock::time_point> busy_mark_; // wait began, or last ping while waiting
  std::optional<clock::time_point> partial_since_;
  std::uint64_t partial_start_ = 0; // where the partial message starts in the stream
  std::size_t partial_bytes_ = 0;
  clock::duration partial_age_{};
  clock::duration silent_for_{};
  clock::duration full_for_{};
};

} // namespace socketengine::detail
