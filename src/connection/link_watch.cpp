#include "connection/link_watch.hpp"

#include <algorithm>

namespace socketengine::detail {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::chrono::milliseconds watch_settings::tick() const noexcept {
  milliseconds shortest{1000};
  auto consider = [&](milliseconds d) {
    if (d.count() > 0) shortest = std::min(shortest, d / 4);
  };
  if (min_receive_rate > 0) consider(receive_grace);
  consider(identify_timeout);
  consider(heartbeat_interval);
  consider(slow_peer_timeout);
  consider(auth_timeout);
  return std::max(shortest, milliseconds(10));
}

link_watch::verdict link_watch::check(const watch_settings& s, clock::time_point now,
                                      const reading& r) {
  // A backlog going out means the peer is taking it (its kernel at least:
  // a stopped peer's socket buffers fill within a few megabytes, and then
  // the backlog stalls). Meanwhile the peer may have nothing to say, and
  // the pings of this side wait behind the backlog. Bytes written when
  // nothing else is (this side's own ping) do not count: they would keep a
  // dead peer alive.
  bool draining = r.writing && r.bytes_out != sent_bytes_;
  sent_bytes_ = r.bytes_out;
  if (r.bytes_in != heard_bytes_ || r.waiting || draining) {
    heard_bytes_ = r.bytes_in;
    last_heard_ = now;
    pinged_.reset();
  }

  if (s.min_receive_rate > 0 && r.pending > 0 && !r.waiting) {
    auto start = r.bytes_in - r.pending;
    if (!partial_since_ || start != partial_start_) {
      // A message begun since the last look (the one before is complete).
      partial_since_ = now;
      partial_start_ = start;
    } else {
      partial_age_ = now - *partial_since_;
      partial_bytes_ = r.pending;
      auto allowed = s.receive_grace + duration_cast<clock::duration>(duration<double>(
                                           static_cast<double>(r.pending) /
                                           static_cast<double>(s.min_receive_rate)));
      if (partial_age_ > allowed) return verdict::too_slow;
    }
  } else {
    partial_since_.reset();
  }

  if (r.full_since && s.slow_peer_timeout.count() > 0) {
    full_for_ = now - *r.full_since;
    if (full_for_ > s.slow_peer_timeout) return verdict::slow_consumer;
  }

  if (!r.identified && !r.waiting && s.identify_timeout.count() > 0 &&
      now - born_ > s.identify_timeout)
    return verdict::unidentified;

  if (r.heartbeats && s.heartbeat_interval.count() > 0 && r.waiting) {
    // This side reads nothing until its work is done, so the peer's pings
    // wait unanswered in the socket, and a parse or decode that outlasts
    // the peer's deadline would have the peer drop a healthy link. A ping
    // from this side each interval is something the peer hears. The first
    // goes only once the wait has lasted an interval: a short wait needs
    // none, and a peer that sent its last message and closed would answer
    // a byte arriving after its close with a reset, losing this side what
    // it has not read yet.
    if (!busy_mark_) busy_mark_ = now;
    if (now - *busy_mark_ >= s.heartbeat_interval) {
      busy_mark_ = now;
      return verdict::ping;
    }
    return verdict::fine;
  }
  busy_mark_.reset();

  if (r.heartbeats && s.heartbeat_interval.count() > 0) {
    silent_for_ = now - last_heard_;
    // Dead only once asked: a ping has had an interval to be answered and
    // went unanswered. Counted from the ping, not from the silence: a
    // check that comes late (this side's own thread held up, by freeing a
    // large message under a sanitizer, say) must not blame the peer for a
    // ping sent a moment ago.
    if (pinged_ && now - *pinged_ >= s.heartbeat_interval &&
        silent_for_ >= s.heartbeat_interval * std::max(s.heartbeat_misses, 1))
      return verdict::unresponsive;
    if (silent_for_ >= s.heartbeat_interval &&
        (!pinged_ || now - *pinged_ >= s.heartbeat_interval)) {
      pinged_ = now;
      return verdict::ping;
    }
  }
  return verdict::fine;
}

std::string link_watch::explain(const watch_settings& s, verdict v) const {
  auto ms = [](clock::duration d) {
    return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
  };
  switch (v) {
  case verdict::too_slow:
    return "a message begun " + ms(partial_age_) + " ago has " + std::to_string(partial_bytes_) +
           " bytes so far, slower than the minimum of " + std::to_string(s.min_receive_rate) +
           " bytes/s after a grace of " + ms(s.receive_grace) + "; closing the connection";
  case verdict::unidentified:
    return "the peer did not name itself within " + ms(s.identify_timeout) +
           "; closing the connection";
  case verdict::unresponsive:
    return "nothing from the peer for " + ms(silent_for_) + ", not even a heartbeat (" +
           std::to_string(s.heartbeat_misses) + " intervals of " + ms(s.heartbeat_interval) +
           "); closing the connection";
  case verdict::slow_consumer:
    return "the peer has not drained its full write queue for " + ms(full_for_) +
           " (the limit is " + ms(s.slow_peer_timeout) + "); cutting it off";
  case verdict::fine:
  case verdict::ping: break;
  }
  return {};
}

} // namespace socketengine::detail
