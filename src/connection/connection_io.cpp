// The I/O thread's side of a connection: reading, writing, closing, and
// handing decoded input on (see connection_impl.hpp).

#include "connection/connection_impl.hpp"

#include <asio/error.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <utility>

#include <socketengine/error.hpp>

#include "protocol/auth/reader.hpp"
#include "transport/system.hpp"
#include "util/deadline.hpp"

namespace socketengine {

namespace {
// How long a closing connection to a legacy peer waits, once its queue is
// written, for the peer to close in turn (see write).
constexpr std::chrono::milliseconds close_linger{250};
// Reads in a row before other connections get a turn, and bytes: a peer
// streaming a large message would otherwise have each read take all the
// socket holds (megabytes), and every other connection wait for its turn.
constexpr int reads_per_turn = 8;
constexpr std::size_t bytes_per_turn = 64 * 1024;
// Into a large frame's own buffer (raw pixels, nothing to parse between
// reads) a turn takes more: at 640x480 that halves the I/O thread's waits
// in epoll per frame and gains about a tenth in frames a second, and other
// connections still get a turn within a millisecond's copying.
constexpr std::size_t large_bytes_per_turn = 1024 * 1024;
// While a large frame arrives, the I/O thread is woken once this much more
// of it is there (or all of it, if less), not whenever any of it is: each
// wake-up is work for the sending side's kernel too, which does the
// waking. Over loopback at 640x480, between two processes, that gave 1.3x
// to 2.1x the frames a second in alternating runs. Small enough that a
// slow link still shows its bytes coming in steps.
constexpr std::size_t wake_bytes = 256 * 1024;

// Adds to a counter that one thread at a time writes (the I/O thread): a
// plain load and store, where a locked read-modify-write would cost as
// much as the rest of the handling of a small message.
void add_exclusive(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
} // namespace

connection::impl::impl(connection& handle,
                       const std::shared_ptr<detail::connection_owner>& owner,
                       std::unique_ptr<detail::transport::stream> stream,
                       std::shared_ptr<const detail::protocol::suite> protocols,
                       connection_kind kind, std::string name)
    : handle_(handle), owner_(owner), owner_raw_(owner.get()), protocols_(std::move(protocols)),
      kind_(kind), address_(stream->remote().address), port_(stream->remote().port),
      stream_(std::move(stream)), in_(protocols_->first_reader()),
      watch_(std::chrono::steady_clock::now()),
      store_(protocols_->settings().limits.max_channels,
             &detail::protocol::suite::exempt_from_limit, protocols_->settings().budget),
      out_(*this, *stream_, protocols_->first_writer(), protocols_->settings().limits) {
  store_.set_name(std::move(name));
}

std::shared_ptr<connection>
connection::impl::make(const std::shared_ptr<detail::connection_owner>& owner,
                       std::unique_ptr<detail::transport::stream> stream,
                       std::shared_ptr<const detail::protocol::suite> protocols,
                       connection_kind kind, std::string name) {
  std::shared_ptr<connection> c(new connection(nullptr));
  c->impl_ = std::make_unique<impl>(*c, owner, std::move(stream), std::move(protocols), kind,
                                    std::move(name));
  return c;
}

void connection::impl::start() {
  read();
  write();
}

// --- reading ------------------------------------------------------------------

void connection::impl::read() {
  // Reads as long as the stream has bytes, a few times over before giving
  // other connections their turn, then waits for readability rather than
  // with a read pending: a pending read needs its buffer, and the readers
  // let go of theirs whenever they are empty (release_idle_buffers), so an
  // idle connection holds none.
  std::size_t taken = 0;
  std::size_t limit = bytes_per_turn;
  for (int turn = 0; turn < reads_per_turn && taken < limit; ++turn) {
    if (io_closed_) return;
    std::span<char> space;
    try {
      space = in_->prepare();
    } catch (const detail::over_budget& e) {
      // Values kept from closed connections, or kept by connections that
      // keep more than this one, give way to a message arriving.
      if (make_room(e.wanted())) continue;
      return fail(errc::over_budget,
                  "a message of " + std::to_string(in_->pending()) +
                      " bytes so far would pass the engine's budget for what it received (" +
                      std::to_string(e.used()) + " of " + std::to_string(e.limit()) +
                      " bytes held); closing the connection");
    } catch (const std::bad_alloc&) {
      return fail(std::make_error_code(std::errc::not_enough_memory),
                  "out of memory for a message of " + std::to_string(in_->pending()) +
                      " bytes so far; closing the connection");
    }
    if (space.size() > bytes_per_turn) limit = large_bytes_per_turn; // a large frame's buffer
    std::error_code ec;
    std::size_t n = stream_->read_some(space.first(std::min(space.size(), limit - taken)), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      stream_->wake_after(std::min(in_->coming(), wake_bytes));
      read_in_flight_ = true;
      stream_->async_wait_readable(std::shared_ptr<detail::transport::stream_user>(self(), this));
      return;
    }
    if (ec) return read_ended(ec);
    add_exclusive(bytes_in_, n);
    taken += n;
    in_->commit(n);
    if (!consume()) return;
  }
  read_later();
}

void connection::impl::read_later() {
  read_in_flight_ = true;
  owner_raw_->post_bulk([self = self()] {
    auto& me = *self->impl_;
    me.read_in_flight_ = false;
    if (me.io_closed_) return me.release_stream_when_idle();
    me.read();
  });
}

void connection::impl::on_readable(std::error_code ec) {
  read_in_flight_ = false;
  if (io_closed_) return release_stream_when_idle();
  if (ec) return finish_close(detail::transport::portable(ec));
  read();
}

void connection::impl::read_ended(std::error_code ec) {
  // EOF after our own half-close is the end of a graceful close.
  finish_close(ec == asio::error::eof ? make_error_code(errc::peer_eof)
                                      : detail::transport::portable(ec));
}

bool connection::impl::consume(std::optional<detail::protocol::reader::outcome> first) {
  in_read_handler_ = true;
  auto outcome = first ? *first : in_->consume(*this);
  while (outcome == detail::protocol::reader::outcome::switched) {
    // What the old reader read past the switch is the new one's start; the
    // new reader's buffer for it is charged to the budget like any other.
    // The handshake of token authentication hands on to the legacy reader,
    // the legacy reader to the native one.
    try {
      if (handshaking_) {
        handshaking_ = false;
        in_ = protocols_->reader_after_auth(in_->rest());
      } else {
        in_ = protocols_->reader_after_switch(in_->rest());
      }
    } catch (const detail::over_budget& e) {
      fail(errc::over_budget, "the bytes after the switch to the native protocol would pass the "
                              "engine's budget for what it received (" +
                                  std::to_string(e.used()) + " of " + std::to_string(e.limit()) +
                                  " bytes held); closing the connection");
      break;
    } catch (const std::bad_alloc&) {
      fail(std::make_error_code(std::errc::not_enough_memory),
           "out of memory at the switch to the native protocol; closing the connection");
      break;
    }
    outcome = in_->consume(*this);
  }
  in_read_handler_ = false;
  if (io_closed_) {
    release_stream_when_idle();
    return false;
  }
  if (outcome == detail::protocol::reader::outcome::paused) {
    std::function<void()> work;
    try {
      work = in_->take_work();
    } catch (const std::bad_alloc&) {
      // offload reports it
    }
    offload(std::move(work));
    return false;
  }
  return true;
}

void connection::impl::offload(std::function<void()> work) {
  auto link = link_.load(std::memory_order_relaxed);
  bool posted = false;
  try {
    posted = work && owner_raw_->post_work([self = self(), work = std::move(work), link] {
      try {
        work();
      } catch (...) {
        // The work reports its own failures (out of memory) as the
        // message's; nothing may escape the work thread.
      }
      auto& me = *self->impl_;
      me.owner_raw_->post_unless_closing([self, link] { self->impl_->resume(link); });
    });
  } catch (const std::bad_alloc&) {
  }
  if (posted) {
    waiting_for_work_ = true;
    // What followed the message was copied into a buffer of its own,
    // charged whatever the limit (see line_reader::take).
    check_budget();
    return;
  }
  // Without the work the stream cannot go on (the message would be lost
  // and reading would never resume); when the owner is closing it ends
  // the connection anyway.
  fail(std::make_error_code(std::errc::not_enough_memory),
       "could not hand a large message to the work thread; closing the connection");
}

void connection::impl::resume(std::uint64_t link) {
  // A link lost meanwhile took its reader with it.
  if (link != link_.load(std::memory_order_relaxed)) return;
  waiting_for_work_ = false;
  if (io_closed_) return release_stream_when_idle();
  if (consume()) read();
}

void connection::impl::release_idle_buffers() noexcept {
  // Reads hold no buffer between handlers (see read), so it may go now.
  if (!io_closed_ && !in_read_handler_) in_->release_if_idle();
}

void connection::impl::watch(const detail::watch_settings& s,
                             std::chrono::steady_clock::time_point now) {
  if (io_closed_) return;
  if (handshaking_ && s.auth_timeout.count() > 0 && now - handshake_since_ > s.auth_timeout) {
    auto outcome = static_cast<detail::auth::reader&>(*in_).deadline_passed(
        *this, "the peer did not authenticate within " + std::to_string(s.auth_timeout.count()) +
                   " ms; closing the connection");
    // A legacy peer admitted (auth_options::allow_legacy): what it sent so
    // far is read now; the read under way goes on with the next reader.
    if (outcome == detail::protocol::reader::outcome::switched && !io_closed_) consume(outcome);
    return;
  }
  // A wait for a large frame's next bytes (see read) ends only once enough
  // have come: on a slow link, bytes already there are read now, for the
  // checks to see them arrive (from this check to the next).
  stream_->wake_after(1);
  using verdict = detail::link_watch::verdict;
  auto v = watch_.check(s, now,
                        {.bytes_in = bytes_in_.load(std::memory_order_relaxed),
                         .pending = in_->pending(),
                         .identified = !awaiting_identity(),
                         .waiting = waiting_for_work_,
                         .heartbeats = out_.writer().heartbeats(),
                         .bytes_out = out_.bytes_out() + write_progress_,
                         .writing = out_.writing(),
                         .full_since = s.slow_peer_timeout.count() > 0
                                           ? out_.full_since()
                                           : std::nullopt});
  switch (v) {
  case verdict::fine: return;
  case verdict::ping: return out_.ping();
  case verdict::too_slow: return fail(errc::receive_timeout, watch_.explain(s, v));
  case verdict::unidentified: return fail(errc::not_identified, watch_.explain(s, v));
  case verdict::unresponsive: return fail(errc::peer_unresponsive, watch_.explain(s, v));
  case verdict::slow_consumer: return fail(errc::slow_consumer, watch_.explain(s, v));
  }
}

bool connection::impl::awaiting_identity() const noexcept {
  if (kind_ != connection_kind::remote) return false;
  if (handshaking_) return true;
  // A hub's peer names itself first; a host's client may say nothing until
  // it writes, and counts as known from its first byte.
  return protocols_->settings().hub ? !named_ : bytes_in_.load(std::memory_order_relaxed) == 0;
}

// --- writing ------------------------------------------------------------------

void connection::impl::write() {
  if (write_in_flight_ || io_closed_) return; // a completion handler continues
  auto next = out_.take();
  if (!next.buffers.empty()) {
    write_in_flight_ = true;
    stream_->async_write(std::move(next.buffers),
                         std::shared_ptr<detail::transport::stream_user>(self(), this));
    return;
  }
  if (next.finish_closing) {
    // All written: half-close but keep reading until the peer closes too.
    // Closing a socket with unread input would send a reset instead, and
    // the peer could lose what we just wrote (`__closing` included); so
    // would a byte the peer sends after we closed (a heartbeat while it
    // parses a large message), which the system answers with a reset. A
    // native peer closes in turn once it has read the closing message, so
    // it is waited for until the close's deadline; not every legacy peer
    // closes in turn (the Python client never does), so that wait is short.
    stream_->shutdown_send();
    if (out_.writer().kind() == detail::protocol::protocol_kind::native) return;
    auto linger = std::chrono::steady_clock::now() + close_linger;
    if (auto timer = close_timer_.lock(); timer && timer->expiry() > linger)
      arm_close_timer(linger);
  }
}

void connection::impl::on_written(std::error_code ec, std::size_t n) {
  write_in_flight_ = false;
  write_progress_ = 0;
  out_.written(n);
  if (io_closed_) return release_stream_when_idle();
  if (ec) return finish_close(detail::transport::portable(ec));
  write();
}

void connection::impl::schedule_write() {
  // Cannot fail to run: the outbox is open, so the owner has not closed
  // yet, and its close() drains the I/O thread before stopping it.
  asio::post(owner_raw_->io(), [self = self()] { self->impl_->write(); });
}

bool connection::impl::on_io_thread() const noexcept { return owner_raw_->on_io_thread(); }

std::chrono::milliseconds connection::impl::write_timeout() const noexcept {
  return owner_raw_->timeout();
}

void connection::impl::conflating(std::size_t queued_bytes) {
  // On the writer's thread, which may outlive the engine: the owner only
  // through its weak reference.
  if (auto owner = owner_.lock())
    owner->report(self(), errc::queue_full,
                  "the peer is not keeping up (" + std::to_string(queued_bytes) +
                      " bytes queued): keeping only the latest value per channel for it until "
                      "it has caught up");
}

// --- closing ------------------------------------------------------------------

void connection::impl::begin_close(std::error_code reason, bool send_closing) {
  if (down_) return finish_close(reason); // nothing to flush, and nobody to tell
  bool start_write = false;
  if (!out_.begin_close(reason, send_closing, start_write)) return;
  arm_close_timer(detail::deadline_after(owner_raw_->timeout()));
  // Writes what is queued, then half-closes (see write).
  if (start_write) write();
}

void connection::impl::arm_close_timer(std::chrono::steady_clock::time_point deadline) {
  if (auto old = close_timer_.lock()) old->cancel();
  // The timer is owned by its own handler, so it is destroyed wherever the
  // handler is, always while the io_context lives; the connection keeps
  // only a weak reference to cancel it.
  auto timer = std::make_shared<asio::steady_timer>(owner_raw_->io());
  timer->expires_at(deadline);
  close_timer_ = timer;
  timer->async_wait([self = self(), timer](std::error_code ec) {
    // The flush or the peer took too long.
    if (!ec) self->impl_->finish_close(errc::closed_locally);
  });
}

void connection::impl::finish_close(std::error_code reason) {
  if (down_) {
    // No link to close: the connection ends here, redialling or not.
    down_ = false;
    next_stream_.reset();
    out_.close(reason);
    store_.close();
    owner_raw_->connection_closed(self());
    return;
  }
  if (io_closed_) return;
  io_closed_ = true;
  // Before the stream closes: no direct write after it.
  // A peer that refused this side's token (or had a wrong one) would again.
  bool redial = redial_ && reason != errc::closed_locally && reason != errc::unauthenticated &&
                out_.go_down(protocols_->first_writer());
  // What the peer sent before it ended is delivered, images included: a
  // peer that writes a picture and closes at once has still sent it. The
  // connection reads closed at once; its end (the store closed, the
  // disconnect) waits for the decodes, whose last one posts it. Decided
  // before out_ closes, so that no decode in between takes the closed
  // connection for one closed here.
  bool after_decodes = false;
  if (!redial && (reason == errc::peer_closing || reason == errc::peer_eof)) {
    std::lock_guard lk(decoding_.mu);
    after_decodes = decoding_.close_after = decoding_.running;
  }
  if (!redial) out_.close(reason);
  if (auto timer = close_timer_.lock()) timer->cancel();
  stream_->close(); // a pending wait or write completes as aborted
  release_stream_when_idle();
  if (redial) {
    down_ = true;
    // Images of the lost link still to be decoded are its own: they are
    // not decoded, and one being decoded is not acknowledged on the next.
    link_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lk(decoding_.mu);
      decoding_.waiting.clear();
    }
    owner_raw_->link_down(self(), reason);
    return;
  }
  if (after_decodes) return;
  store_.close();
  owner_raw_->connection_closed(self());
}

bool connection::impl::stop_decodes_locked() {
  decoding_.waiting.clear();
  decoding_.running = false;
  return std::exchange(decoding_.close_after, false);
}

void connection::impl::close_after_decodes() {
  // Straight to the I/O context, not post_unless_closing: an engine that
  // is closing waits for its connections to end, this one included.
  asio::post(owner_raw_->io(), [self = self()] {
    self->impl_->store_.close();
    self->impl_->owner_raw_->connection_closed(self);
  });
}

void connection::impl::reattach(std::unique_ptr<detail::transport::stream> stream) {
  if (!down_) return; // closed meanwhile; the stream closes as it goes
  if (stream_) {
    next_stream_ = std::move(stream); // see release_stream_when_idle
    return;
  }
  attach(std::move(stream));
}

void connection::impl::attach(std::unique_ptr<detail::transport::stream> stream) {
  down_ = false;
  waiting_for_work_ = false;
  stream_ = std::move(stream);
  std::string greeting;
  in_ = protocols_->start_link(kind_ == connection_kind::local, announce_, greeting);
  handshaking_ = protocols_->authenticates();
  handshake_since_ = std::chrono::steady_clock::now();
  io_closed_ = false;
  watch_ = detail::link_watch(handshake_since_);
  out_.come_up(*stream_, greeting, announce_ && !handshaking_ ? 1 : 0, handshaking_);
  reconnects_.fetch_add(1, std::memory_order_relaxed);
  // With a token, the link is up once the peer has authenticated.
  if (!handshaking_) owner_raw_->link_up(self());
  start();
}

void connection::impl::release_stream_when_idle() {
  // The stream goes only once no handler can touch it again (a composed
  // write keeps a reference to the socket between its steps), and always
  // here on the I/O thread, while its io_context surely lives: a user may
  // keep this connection long after the engine is gone.
  if (!io_closed_ || read_in_flight_ || write_in_flight_) return;
  if (stream_ && !stream_->idle()) return; // on_stream_idle() comes back here
  stream_.reset();
  // A closed connection keeps no buffers; but not while the reader is
  // still walking its buffer (consume calls this again when done).
  if (in_read_handler_) return;
  in_->release();
  // A new link that came while the old one's handlers were still due.
  if (next_stream_) attach(std::move(next_stream_));
}

// --- what the protocol reader hands on ------------------------------------------

void connection::impl::stored(std::string_view channel, std::optional<value>&& copy,
                              std::size_t wire_bytes) {
  if (copy) owner_raw_->message_arrived(self(), channel, std::move(*copy), wire_bytes);
  owner_raw_->value_stored(channel);
  check_budget();
}

void connection::impl::check_budget() {
  const auto& budget = protocols_->settings().budget;
  if (budget && budget->over()) owner_raw_->budget_spent();
}

void connection::impl::refused(detail::value_store::refusal why, std::string_view channel) {
  if (why == detail::value_store::refusal::invalid_channel)
    return reject(errc::invalid_utf8, "channel name is not UTF-8");
  if (channel_limit_reported_.exchange(true, std::memory_order_relaxed)) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Named so that whoever reads it knows which option to raise, in C++ or
  // in Python, and that later ones go unreported.
  reject(errc::too_many_channels,
         "channel \"" + std::string(channel.substr(0, 64)) + "\" dropped: this peer has written " +
             std::to_string(protocols_->settings().limits.max_channels) +
             " channels, the limit (limits.max_channels; Python: limits={'max_channels': N}); "
             "values on further new channels are dropped too, counted in stats().errors and "
             "not reported again");
}

void connection::impl::value_received(std::string_view channel, value&& v,
                                      std::size_t wire_bytes) {
  std::optional<value> copy;
  if (owner_raw_->wants_messages()) copy = v;
  auto why = store_.store(channel, std::move(v), wire_bytes);
  if (why != detail::value_store::refusal::none) return refused(why, channel);
  stored(channel, std::move(copy), wire_bytes);
}

void connection::impl::bytes_received(std::string_view channel,
                                      std::span<const std::uint8_t> bytes,
                                      std::size_t wire_bytes) {
  auto make = [&] {
    return value::binary(value::binary_t::container_type(bytes.begin(), bytes.end()));
  };
  auto why = store_.store_with(channel, [&](value& slot) {
    // The last value's buffer is reused when it held bytes too: a stream
    // of bytes on one channel then allocates nothing per message.
    if (slot.is_binary())
      slot.get_binary().assign(bytes.begin(), bytes.end());
    else
      slot = make();
  }, bytes.size());
  if (why != detail::value_store::refusal::none) return refused(why, channel);
  std::optional<value> copy;
  if (owner_raw_->wants_messages()) copy = make();
  stored(channel, std::move(copy), wire_bytes);
}

void connection::impl::image_received(image&& img, bool counted) {
  store_.store_image(img, counted);
  if (owner_raw_->wants_images()) owner_raw_->image_arrived(self(), std::move(img));
  check_budget();
}

void connection::impl::image_to_decode(image_decoder decode, std::size_t held, bool counted,
                                       bool acknowledge) {
  // Charged whatever the limit, as what is already held: the engine
  // brings the total back under it (check_budget).
  auto* budget = protocols_->settings().budget.get();
  if (budget) budget->charge(held);
  detail::budget_charge charge(budget, held);
  bool start = false;
  bool dropped_owed_ack = false;
  {
    std::lock_guard lk(decoding_.mu);
    if (decoding_.waiting.size() >= max_waiting_images) {
      dropped_owed_ack = decoding_.waiting.front().acknowledge;
      decoding_.waiting.pop_front();
    }
    decoding_.waiting.push_back(decode_job{std::move(decode), counted, acknowledge,
                                           link_.load(std::memory_order_relaxed),
                                           std::move(charge)});
    // A decode under way takes the new image when it is done.
    start = !std::exchange(decoding_.running, true);
  }
  // The image dropped is never decoded: the peer may send another.
  if (dropped_owed_ack) image_needs_ack(/*now=*/true);
  if (start && !owner_raw_->post_work([self = self()] { self->impl_->run_decodes(); })) {
    // The owner is closing: nothing will be decoded.
    std::lock_guard lk(decoding_.mu);
    decoding_.waiting.clear();
    decoding_.running = false;
  }
  check_budget();
}

std::size_t connection::impl::held_bytes() const noexcept {
  std::size_t waiting = 0;
  {
    std::lock_guard lk(decoding_.mu);
    for (const auto& job : decoding_.waiting) waiting += job.held.size();
  }
  return store_.held_bytes() + waiting;
}

std::size_t connection::impl::drop_held() {
  std::deque<decode_job> dropped;
  {
    std::lock_guard lk(decoding_.mu);
    dropped.swap(decoding_.waiting);
  }
  std::size_t waiting = 0;
  for (const auto& job : dropped) waiting += job.held.size();
  // Their charges go as they do, outside the lock.
  dropped.clear();
  return store_.drop_all() + waiting;
}

void connection::impl::run_decodes() {
  // One image per turn: a connection whose next image is always waiting
  // (a camera streaming) goes to the back of the work thread's queue after
  // each, so every connection's images get decoded.
  {
    std::optional<decode_job> job;
    bool close_now = false;
    {
      std::lock_guard lk(decoding_.mu);
      // Closing (but not by the peer, whose images count): not worth decoding.
      if (decoding_.waiting.empty() || !delivers_locked()) {
        close_now = stop_decodes_locked();
      } else {
        job = std::move(decoding_.waiting.front());
        decoding_.waiting.pop_front();
      }
    }
    if (!job) {
      if (close_now) close_after_decodes();
      return;
    }
    std::error_code ec;
    std::string detail;
    std::optional<image> img;
    try {
      img = job->decode(ec, detail);
    } catch (const std::bad_alloc&) {
      // Within max_pixels but more than the system would give: this image
      // is lost, the connection is not.
      ec = std::make_error_code(std::errc::not_enough_memory);
      detail = "out of memory decoding an image";
    } catch (const std::exception& e) {
      // Nothing may escape the work thread.
      ec = errc::invalid_image;
      detail = std::string("decoding an image failed: ") + e.what();
    }
    // A connection that closed meanwhile has told its callbacks so: nothing
    // of it may come after that, and the image goes with it. One the peer
    // closed waits for its images (close_after) before telling them.
    bool deliver = false;
    {
      std::lock_guard lk(decoding_.mu);
      deliver = delivers_locked();
    }
    if (deliver) {
      if (img)
        image_received(std::move(*img), job->counted);
      else
        reject(ec, std::move(detail));
    }
    // Decoded or not, the peer may send the next one (owe_ack posts the
    // write to the I/O thread).
    if (job->acknowledge && job->link == link_.load(std::memory_order_relaxed)) out_.owe_ack();
  }
  bool more = false;
  bool close_now = false;
  {
    std::lock_guard lk(decoding_.mu);
    more = !decoding_.waiting.empty() && delivers_locked();
    if (!more) close_now = stop_decodes_locked();
  }
  if (more && !owner_raw_->post_work([self = self()] { self->impl_->run_decodes(); })) {
    std::lock_guard lk(decoding_.mu);
    close_now = stop_decodes_locked();
  }
  if (close_now) close_after_decodes();
}

void connection::impl::peer_named(const std::string& name) {
  named_ = true;
  store_.set_name(name);
}

void connection::impl::ping_received() { out_.owe_pong(); }

void connection::impl::image_needs_ack(bool now) {
  out_.owe_ack();
  if (now) write();
}

void connection::impl::images_acknowledged(std::uint32_t count) { out_.acknowledged(count); }

void connection::impl::peer_offered() {
  std::string line;
  if (const auto* next = protocols_->upgrade(line)) out_.switch_to(*next, line);
}

void connection::impl::peer_closing() { finish_close(errc::peer_closing); }

void connection::impl::handshake_reply(std::string_view line) { out_.queue_handshake(line); }

void connection::impl::peer_authenticated(bool legacy, bool offers_native) {
  // The name (a hub's dial), what was held meanwhile, then the switch if
  // both offer the native protocol: the order of a link without a token.
  std::string first;
  if (announce_) protocols_->append_name(first, *announce_);
  out_.authenticated(first, announce_ ? 1 : 0);
  if (!legacy && offers_native) peer_offered();
  redial_ = redial_after_auth_;
  // Listed (or its link up) before the reader after this one stores
  // anything.
  owner_raw_->authenticated(self());
}

void connection::impl::refuse(std::string_view line, std::string detail) {
  reject(errc::unauthenticated, std::move(detail));
  // The peer learns why, and the connection closes once that is written.
  out_.queue_handshake(line);
  begin_close(errc::unauthenticated, /*send_closing=*/false);
}

void connection::impl::reject(std::error_code ec, std::string detail) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  owner_raw_->report(self(), ec, std::move(detail));
}

void connection::impl::fail(std::error_code ec, std::string detail) {
  if (ec == errc::over_budget)
    detail += " (and dropping the " + std::to_string(store_.held_bytes()) +
              " bytes of values it kept)";
  reject(ec, std::move(detail));
  // Past the budget, and keeping more than any other: what it kept goes
  // with it (first, so that it is gone once the connection reads closed).
  if (ec == errc::over_budget) store_.drop_all();
  finish_close(ec);
}

bool connection::impl::make_room(std::size_t wanted) {
  return owner_raw_->make_room(wanted, handle_);
}

} // namespace socketengine
