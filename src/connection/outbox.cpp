#include "connection/outbox.hpp"

#include <limits>

#include <socketengine/error.hpp>

#include "util/deadline.hpp"

namespace socketengine::detail {

namespace {
// A buffer that held one large message is given back rather than kept by
// an idle connection.
constexpr std::size_t keep_write_capacity = 256 * 1024;
// A message written to an idle connection goes to the socket from the
// writer's thread, without waking the I/O thread: that saves a thread
// switch, about a third of a round trip over loopback. Not for large
// messages, which the I/O thread writes as the socket takes them, and not
// more than once per this interval, so that a stream of messages is still
// coalesced into few writes by the I/O thread.
constexpr std::size_t direct_write_max = 16 * 1024;
constexpr std::chrono::microseconds direct_write_interval{20};
} // namespace

outbox::outbox(outbox_user& user, transport::stream& stream, const protocol::writer& first,
               const limits& lim)
    : user_(user), limits_(lim), stream_(&stream), writer_(&first) {}

// --- writing ------------------------------------------------------------------

bool outbox::enqueue(std::string_view bytes, std::shared_ptr<const std::string> block,
                     std::string_view channel, const protocol::writer* encoded_with,
                     std::error_code& ec) {
  ec.clear();
  std::unique_lock lk(mu_);
  auto hold_for_next_link = [&] {
    // Kept for the next link, the latest per channel (see go_down).
    if (writer_.load(std::memory_order_relaxed) != encoded_with) return false;
    hold_locked(channel, bytes, block);
    add(messages_out_, 1);
    return true;
  };
  if (state_ == state::down || state_ == state::authenticating) return hold_for_next_link();
  if (state_ != state::open) {
    ec = errc::not_connected;
    return true;
  }
  auto queued = [&] { return pending_.size() + inflight_.size(); };
  auto full = [&] {
    // An oversized message still goes out alone, or it never could.
    return queued() > 0 && queued() + bytes.size() > limits_.max_write_queue_bytes;
  };
  const auto policy = limits_.on_full_queue;
  if (policy == overflow_policy::conflate && (!held_.empty() || full())) {
    if (writer_.load(std::memory_order_relaxed) != encoded_with) return false;
    if (!full_since_) full_since_ = std::chrono::steady_clock::now();
    if (held_.empty()) conflation_news_.store(true, std::memory_order_relaxed);
    hold_locked(channel, bytes, std::move(block));
    add(messages_out_, 1);
    return true;
  }
  if (full()) {
    if (!full_since_) full_since_ = std::chrono::steady_clock::now();
    // The I/O thread cannot wait for itself to drain the queue.
    if (policy != overflow_policy::block || user_.on_io_thread()) {
      ec = errc::queue_full;
      return true;
    }
    auto deadline = deadline_after(user_.write_timeout());
    if (!cv_.wait_until(lk, deadline, [&] { return state_ != state::open || !full(); })) {
      ec = errc::queue_full;
      return true;
    }
    if (state_ == state::down || state_ == state::authenticating) return hold_for_next_link();
    if (state_ != state::open) {
      ec = errc::not_connected;
      return true;
    }
  }
  if (writer_.load(std::memory_order_relaxed) != encoded_with) return false;
  add(messages_out_, 1);
  if (!writing_ && pending_.empty() && bytes.size() <= direct_write_max) {
    // Nothing is being written (writing_ is false under the lock, so no
    // write is under way or posted) and the stream is open (state_ is, and
    // close() takes the lock before the stream closes): the bytes may go
    // to the stream from here. What it does not take, the I/O thread writes.
    auto now = std::chrono::steady_clock::now();
    if (now - last_direct_write_ >= direct_write_interval) {
      last_direct_write_ = now;
      auto sent = stream_->try_write(bytes);
      written_total_ += sent;
      add(bytes_out_, sent);
      bytes.remove_prefix(sent);
      if (bytes.empty()) {
        messages_end_ = written_total_;
        return true;
      }
    }
  }
  if (block)
    pending_.append_shared(std::move(block));
  else
    pending_.append(bytes);
  messages_end_ = queued_end_locked();
  kick_locked();
  return true;
}

void outbox::write(protocol::encoded_message& message, std::error_code& ec) {
  const auto* w = &writer();
  for (;;) {
    bool done;
    if (message.in(*w).size() >= shared_from) {
      auto block = message.shared_in(*w);
      done = enqueue(*block, block, message.channel(), w, ec);
    } else {
      done = enqueue(message.in(*w), nullptr, message.channel(), w, ec);
    }
    if (done || ec) break;
    w = &writer(); // it switched meanwhile
  }
  report_conflation();
}

void outbox::hold_locked(std::string_view channel, std::string_view bytes,
                         std::shared_ptr<const std::string> block) {
  // A linear search: the channels one side writes are few, and this runs
  // only while a peer is behind.
  auto keep = [&](held& h) {
    if (block) {
      h.bytes.clear();
      h.block = std::move(block);
    } else {
      h.bytes.assign(bytes);
      h.block.reset();
    }
  };
  for (auto& h : held_)
    if (h.channel == channel) {
      keep(h);
      add(conflated_, 1);
      return;
    }
  keep(held_.emplace_back(held{std::string(channel), {}, nullptr}));
}

void outbox::release_held_locked() {
  for (auto& h : held_) {
    if (h.block)
      pending_.append_shared(std::move(h.block));
    else
      pending_.append(h.bytes);
  }
  if (!held_.empty()) messages_end_ = queued_end_locked();
  held_.clear();
  held_.shrink_to_fit();
}

void outbox::report_conflation() {
  if (!conflation_news_.load(std::memory_order_relaxed) || !conflation_news_.exchange(false))
    return;
  std::size_t queued;
  {
    std::lock_guard lk(mu_);
    queued = pending_.size() + inflight_.size();
  }
  user_.conflating(queued);
}

std::optional<std::chrono::steady_clock::time_point> outbox::full_since() const {
  std::lock_guard lk(mu_);
  return full_since_;
}

bool outbox::writing() const {
  std::lock_guard lk(mu_);
  return writing_;
}

void outbox::kick_locked() {
  if (writing_) return;
  writing_ = true;
  user_.schedule_write();
}

void outbox::queue_greeting(std::string_view bytes, std::uint64_t messages) {
  std::lock_guard lk(mu_);
  pending_.append(bytes);
  add(messages_out_, messages);
}

void outbox::start_authenticating() {
  std::lock_guard lk(mu_);
  if (state_ == state::open) state_ = state::authenticating;
}

void outbox::queue_handshake(std::string_view line) {
  std::lock_guard lk(mu_);
  if (state_ == state::closed || state_ == state::down) return;
  pending_.append(line);
  kick_locked();
}

void outbox::authenticated(std::string_view first, std::uint64_t messages) {
  {
    std::lock_guard lk(mu_);
    if (state_ != state::authenticating) return;
    state_ = state::open;
    pending_.append(first);
    add(messages_out_, messages);
    release_held_locked();
    kick_locked();
  }
  cv_.notify_all(); // flushes and image slots see the link open
}

void outbox::switch_to(const protocol::writer& next, std::string_view switch_line) {
  std::lock_guard lk(mu_);
  if (writer_.load(std::memory_order_relaxed) == &next || state_ != state::open) return;
  // A pending frame was encoded in the protocol written until now: it goes
  // ahead of the switch line. The peer reads frames in a row either way.
  if (images_.has_pending()) start_image_locked(images_.take_pending(), writer());
  release_held_locked(); // encoded in the protocol written until now, too
  pending_.append(switch_line);
  writer_.store(&next, std::memory_order_release);
  kick_locked();
}

// --- images ------------------------------------------------------------------

image_status outbox::write_image(protocol::encoded_image& img, bool latest_frame_wins,
                                 std::error_code& ec) {
  ec.clear();
  for (;;) {
    const auto& w = writer();
    auto frame = img.in(w);
    std::lock_guard lk(mu_);
    // No frame waits for a link, nor for the peer's proof.
    if (state_ == state::down || state_ == state::authenticating) return image_status::dropped;
    if (state_ != state::open) {
      ec = errc::not_connected;
      return image_status::dropped;
    }
    if (writer_.load(std::memory_order_relaxed) != &w) continue; // switched: encode again
    if (!images_.has_room(w.image_window())) {
      if (!latest_frame_wins) return image_status::dropped;
      images_.hold(std::move(frame));
      return image_status::pending;
    }
    start_image_locked(std::move(frame), w);
    return image_status::sent;
  }
}

void outbox::start_image_locked(image_flow::frame frame, const protocol::writer& encoded_with) {
  // Images are not held to the queue's bound: flow control bounds them.
  auto end = queued_end_locked() + frame.size();
  messages_end_ = end;
  add(messages_out_, 1);
  const bool acknowledged = encoded_with.peer_acknowledges_images();
  images_.started(end, acknowledged);
  std::size_t bytes_sent = 0, pixels_sent = 0;
  if (!writing_ && pending_.empty() && stream_ && acknowledged) {
    // As enqueue's direct write, for a frame: nothing else is being
    // written, so the frame may go to the socket from this thread, as much
    // of it as the socket takes now, and the I/O thread is woken only for
    // the rest. A producer that writes frame after frame then costs the
    // I/O thread no turn per frame. Only for peers that acknowledge
    // images: their frames retire on the acknowledgement, never on a
    // write, so there is nothing to retire here.
    auto sent_now = [&](std::string_view bytes) {
      auto n = stream_->try_write(bytes.substr(0, stream_->try_write_limit()));
      written_total_ += n;
      add(bytes_out_, n);
      return n;
    };
    bytes_sent = sent_now(*frame.bytes);
    if (bytes_sent == frame.bytes->size() && !frame.pixels.empty())
      pixels_sent = sent_now({reinterpret_cast<const char*>(frame.pixels.data()),
                              frame.pixels.size_bytes()});
  }
  pending_.append_shared(std::move(frame.bytes), bytes_sent);
  pending_.append_pixels(std::move(frame.pixels), pixels_sent);
  if (!pending_.empty()) kick_locked();
}

bool outbox::retire_images_locked() {
  bool changed = images_.retire(written_total_);
  const auto& w = writer();
  if (images_.has_pending() && state_ == state::open && images_.has_room(w.image_window())) {
    // The pending frame takes the free place.
    try {
      start_image_locked(images_.take_pending(), w);
    } catch (const std::bad_alloc&) {
      // The frame is lost; the next write_image sends at once.
    }
    changed = true;
  }
  return changed;
}

void outbox::owe_ack() {
  // Owed acknowledgements go out with the next write, as one message with
  // a count (see take), so a peer that floods images and never reads
  // cannot grow the queue with them.
  std::lock_guard lk(mu_);
  if (state_ != state::open) return;
  ++acks_owed_;
  kick_locked();
}

void outbox::owe_pong() {
  std::lock_guard lk(mu_);
  if (state_ != state::open) return;
  pong_owed_ = true;
  kick_locked();
}

void outbox::ping() {
  std::lock_guard lk(mu_);
  if (state_ != state::open || !writer().heartbeats()) return;
  ping_due_ = true;
  kick_locked();
}

void outbox::acknowledged(std::uint32_t count) {
  {
    std::lock_guard lk(mu_);
    // One that comes before its image is fully written (a peer that repeats
    // them, or one that lies to make us queue frame after frame) counts only
    // once the image is written, so the socket, not the peer's word, paces
    // frames.
    images_.acknowledged(count);
    if (!retire_images_locked()) return;
  }
  cv_.notify_all(); // wait_for_image_slot
}

bool outbox::can_write_image() const {
  std::lock_guard lk(mu_);
  return state_ == state::open && images_.has_room(writer().image_window());
}

bool outbox::wait_for_image_slot(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  return cv_.wait_until(lk, deadline,
                        [&] { return state_ != state::open || !images_.has_pending(); }) &&
         state_ == state::open;
}

// --- the I/O thread's side -----------------------------------------------------

outbox::work outbox::take() {
  work next;
  {
    std::lock_guard lk(mu_);
    if (state_ == state::down) return next; // held for the next link (come_up)
    if (state_ != state::authenticating && pending_.size() < limits_.max_write_queue_bytes) {
      // Below the bound again (what was in flight is written): the peer is
      // keeping up. Messages held meanwhile go now.
      full_since_.reset();
      release_held_locked();
    }
    if (acks_owed_ > 0 && state_ != state::closed) {
      // In the protocol written now, at the end of what is queued:
      // acknowledgements need no particular place in the stream.
      std::string ack;
      writer().append_acks(ack, acks_owed_);
      pending_.append(ack);
      acks_owed_ = 0;
    }
    if ((pong_owed_ || ping_due_) && state_ != state::closed) {
      std::string beat;
      if (pong_owed_) writer().append_pong(beat);
      if (ping_due_) writer().append_ping(beat);
      if (!beat.empty()) pending_.append(beat);
      pong_owed_ = ping_due_ = false;
    }
    if (!pending_.empty()) {
      // Everything queued since the last write goes out in one call: small
      // messages coalesce into few system calls under load.
      writing_ = true;
      pending_.swap(inflight_);
      next.buffers = inflight_.buffers();
      return next;
    }
    writing_ = false;
    next.finish_closing = state_ == state::closing;
  }
  cv_.notify_all(); // flush
  return next;
}

void outbox::written(std::size_t n) {
  {
    std::lock_guard lk(mu_);
    add(bytes_out_, n);
    written_total_ += n;
    inflight_.clear(keep_write_capacity);
    // Images that need no acknowledgement are done once written; so are
    // those acknowledged early. The next write takes the pending frame, if
    // one got room.
    retire_images_locked();
  }
  cv_.notify_all();
}

// --- closing -------------------------------------------------------------------

bool outbox::begin_close(std::error_code reason, bool send_closing, bool& start_write) {
  start_write = false;
  {
    std::lock_guard lk(mu_);
    if (state_ != state::open && state_ != state::authenticating) return false;
    // Held for a peer that has not proved its token: never sent.
    if (state_ == state::authenticating) held_.clear();
    state_ = state::closing;
    reason_ = reason;
    open_.store(false);
    release_held_locked(); // the latest values go before the goodbye
    if (send_closing) {
      std::string bye;
      writer().append_closing(bye);
      if (!bye.empty()) {
        pending_.append(bye);
        add(messages_out_, 1);
      }
    }
    if (!writing_) {
      writing_ = true;
      start_write = true;
    }
  }
  cv_.notify_all(); // blocked writers see the new state
  return true;
}

bool outbox::go_down(const protocol::writer& first) {
  {
    std::lock_guard lk(mu_);
    if (state_ != state::open && state_ != state::authenticating) return false;
    state_ = state::down;
    stream_ = nullptr; // no direct write to a stream that is closing
    // What was queued was encoded for the old link (perhaps in the native
    // protocol, which a new link does not start with), and what was held
    // with it; a write under way ends aborted and written() clears it.
    pending_.release();
    held_.clear();
    images_.clear();
    acks_owed_ = 0;
    pong_owed_ = ping_due_ = false;
    full_since_.reset();
    writer_.store(&first, std::memory_order_release);
  }
  cv_.notify_all(); // image slots and flushes see the link gone
  return true;
}

void outbox::come_up(transport::stream& stream, std::string_view greeting,
                     std::uint64_t messages, bool authenticate) {
  std::lock_guard lk(mu_);
  if (state_ != state::down) return;
  state_ = authenticate ? state::authenticating : state::open;
  stream_ = &stream;
  writing_ = false; // the old link's writes have ended
  pending_.append(greeting);
  add(messages_out_, messages);
  if (!authenticate) release_held_locked();
}

bool outbox::close(std::error_code reason) {
  {
    std::lock_guard lk(mu_);
    if (state_ == state::closed) return false;
    state_ = state::closed;
    if (!reason_) reason_ = reason;
    stream_ = nullptr;
    pending_.release(); // give the memory back, not just the bytes
    if (!held_.empty()) messages_end_ = std::numeric_limits<std::uint64_t>::max(); // never sent
    held_.clear();
    held_.shrink_to_fit();
    images_.clear();
    acks_owed_ = 0;
    pong_owed_ = ping_due_ = false;
    open_.store(false);
  }
  cv_.notify_all();
  return true;
}

bool outbox::closed() const {
  std::lock_guard lk(mu_);
  return state_ == state::closed;
}

outbox::state outbox::current() const {
  std::lock_guard lk(mu_);
  return state_;
}

std::error_code outbox::reason() const {
  std::lock_guard lk(mu_);
  return reason_;
}

bool outbox::flush(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  // While down, what is held waits for the next link.
  auto drained = [&] {
    return state_ != state::down && state_ != state::authenticating && held_.empty() &&
           written_total_ >= messages_end_;
  };
  // A write under way when the link closed may have handed its bytes to
  // the system before the close was seen: the verdict waits for it to say
  // how many (written(), which empties inflight_), as it does once aborted.
  auto settled = [&] { return state_ == state::closed && inflight_.size() == 0; };
  return cv_.wait_until(lk, deadline, [&] { return settled() || drained(); }) && drained();
}

bool outbox::wait_closed(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  return cv_.wait_until(lk, deadline, [&] { return state_ == state::closed; });
}

} // namespace socketengine::detail
