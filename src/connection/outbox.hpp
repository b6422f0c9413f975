#pragma once
// Everything a connection sends, under one lock: the write queue and its
// bound, the protocol the connection writes (and the switch to another),
// owed image acknowledgements, the images in flight, and whether the
// connection is open, closing or closed. Writers on any thread queue here;
// the I/O thread takes what is queued and writes it (see docs/design.md,
// Writing).
//
// Threading: every member may be called from any thread unless it says
// "I/O thread". The write lock is never held while calling out, except to
// outbox_user::schedule_write(), which must only post.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/buffer.hpp>

#include <socketengine/image.hpp>
#include <socketengine/options.hpp>

#include "connection/image_flow.hpp"
#include "connection/write_queue.hpp"
#include "protocol/encoded.hpp"
#include "protocol/writer.hpp"
#include "transport/stream.hpp"

namespace socketengine::detail {

/// What the outbox needs from its connection.
class outbox_user {
public:
  /// Makes the I/O thread write what is queued, soon (posts; never runs the
  /// write here). Called with the write lock held, only while open.
  virtual void schedule_write() = 0;
  /// True on the I/O thread, which cannot wait for its own writes.
  [[nodiscard]] virtual bool on_io_thread() const noexcept = 0;
  /// How long a write waits for room in a full queue.
  [[nodiscard]] virtual std::chrono::milliseconds write_timeout() const noexcept = 0;
  /// The queue filled and messages are now held, the latest per channel
  /// (overflow_policy::conflate); once per time it fills. Called on the
  /// writer's thread, without the lock.
  virtual void conflating(std::size_t queued_bytes) = 0;

protected:
  ~outbox_user() = default;
};

class outbox {
public:
  // down: the link is lost and being redialled; writes are held, the
  // latest per channel, until come_up. authenticating: the link is up but
  // the peer has not proved its token yet (auth_options); only handshake
  // lines go out, and writes are held as while down, until authenticated.
  enum class state { open, down, closing, closed, authenticating };

  /// Messages of this many bytes or more are queued by reference, not
  /// copied: a copy is made under the lock that the I/O thread takes to
  /// write, answer pings or acknowledge images, and at tens of megabytes
  /// it held up every connection on that thread for as long (95 ms for
  /// 32 MiB in a debug build).
  static constexpr std::size_t shared_from = 64 * 1024;

  /// `stream`: where direct writes go, under the write lock, until close().
  /// `first`: the protocol written first.
  outbox(outbox_user& user, transport::stream& stream, const protocol::writer& first,
         const limits& lim);

  // --- writing ------------------------------------------------------------
  /// Encodes with `encode(std::string& out, const protocol::writer& w)` in
  /// the protocol the connection writes, and queues the result (see
  /// enqueue) as a message on `channel`. If the protocol switched
  /// meanwhile, encodes again. \throws what `encode` throws.
  template <class Encode>
  void write(std::string_view channel, Encode&& encode, std::error_code& ec);

  /// Queues `message` in the protocol the connection writes.
  /// \throws what the writer throws.
  void write(protocol::encoded_message& message, std::error_code& ec);

  /// Sends an image now, keeps it as the pending frame, or drops it (see
  /// connection::write_image). \throws what the writer throws.
  image_status write_image(protocol::encoded_image& img, bool latest_frame_wins,
                           std::error_code& ec);

  /// Queues bytes that go before anything else (the greeting); `messages`:
  /// how many messages they hold. Before the connection starts.
  void queue_greeting(std::string_view bytes, std::uint64_t messages);

  /// Token authentication: from now on, until authenticated(), only
  /// queue_handshake's lines go out, and writes are held as while down.
  /// Before the connection starts.
  void start_authenticating();
  /// Queues a handshake line (a proof, a refusal) to go out now, in any
  /// state but closed. I/O thread.
  void queue_handshake(std::string_view line);
  /// The peer proved its token: `first` (holding `messages` messages: the
  /// name a hub's dial sends) goes out, then what was held meanwhile, and
  /// writes go out again. I/O thread.
  void authenticated(std::string_view first, std::uint64_t messages);

  /// Switches to writing `next`, after `switch_line` in the current
  /// protocol. A pending frame, encoded in the current protocol, goes ahead
  /// of the line. I/O thread.
  void switch_to(const protocol::writer& next, std::string_view switch_line);

  // --- images and acknowledgements -----------------------------------------
  /// One more image received is owed an acknowledgement, written with the
  /// next write (as one message however many are owed).
  void owe_ack();
  /// The peer pinged: a pong goes out with the next write (one however
  /// many pings came).
  void owe_pong();
  /// Sends a heartbeat ping with the next write, if the protocol written
  /// has heartbeats. Neither it nor a pong is held to the queue's bound:
  /// each is a few bytes, one at a time.
  void ping();
  /// The peer acknowledged `count` images.
  void acknowledged(std::uint32_t count);
  [[nodiscard]] bool can_write_image() const;
  /// Waits until no frame is pending; false on timeout or close.
  bool wait_for_image_slot(std::chrono::steady_clock::time_point deadline) const;

  // --- the I/O thread's side -------------------------------------------------
  /// What the I/O thread does next.
  struct work {
    std::vector<asio::const_buffer> buffers; ///< write these (valid until written())
    bool finish_closing = false;             ///< nothing to write and closing: half-close
  };
  /// Takes everything queued for one write. Owed acknowledgements are
  /// queued first. I/O thread.
  [[nodiscard]] work take();
  /// A write of what take() gave ended with `n` bytes written. I/O thread.
  void written(std::size_t n);

  /// Stops taking writes: queues the protocol's closing message if
  /// `send_closing` and records `reason`. Returns false if it was not open;
  /// `start_write` says whether the caller must start writing.
  bool begin_close(std::error_code reason, bool send_closing, bool& start_write);
  /// The link is lost and will be redialled: drops what was queued for it
  /// (encoded for a link that is gone), forgets its images and replies,
  /// lets go of the stream, and from now on holds written values, the
  /// latest per channel, encoded in `first`, the protocol every new link
  /// starts with; images are dropped. Returns false (and does nothing) if
  /// it was not open. Call before closing the stream. I/O thread.
  bool go_down(const protocol::writer& first);
  /// A new link: writes to `stream`, `greeting` first (holding `messages`
  /// messages), then the values held while down. The caller starts
  /// writing. I/O thread, once the old link's writes have ended.
  /// `authenticate`: the new link authenticates first (see
  /// start_authenticating); what is held goes at authenticated().
  void come_up(transport::stream& stream, std::string_view greeting, std::uint64_t messages,
               bool authenticate = false);

  /// Closed: drops everything queued, lets go of the stream and wakes every
  /// wait. Returns false if it was closed already. Call before closing the
  /// stream. I/O thread.
  bool close(std::error_code reason);

  // --- state -------------------------------------------------------------------
  [[nodiscard]] bool is_open() const noexcept { return open_.load(); }
  [[nodiscard]] bool closed() const;
  [[nodiscard]] state current() const;
  [[nodiscard]] std::error_code reason() const;
  /// The protocol written now.
  [[nodiscard]] const protocol::writer& writer() const noexcept {
    return *writer_.load(std::memory_order_acquire);
  }
  /// Waits until every message and image queued has been written (handed
  /// to the operating system); false on timeout, or if the connection
  /// closed with one of them unsent. What the engine queues of its own
  /// after them (a switch line, acknowledgements, a pong) is not waited
  /// for: a peer that hangs up on reading the last message leaves nothing
  /// unsent that was asked for.
  bool flush(std::chrono::steady_clock::time_point deadline) const;
  /// Waits until closed; false on timeout.
  bool wait_closed(std::chrono::steady_clock::time_point deadline) const;

  [[nodiscard]] std::uint64_t messages_out() const noexcept { return messages_out_.load(); }
  [[nodiscard]] std::uint64_t bytes_out() const noexcept { return bytes_out_.load(); }
  /// True while bytes wait to be written or a write is in progress.
  [[nodiscard]] bool writing() const;
  [[nodiscard]] std::uint64_t conflated() const noexcept { return conflated_.load(); }
  /// Since when the queue has been full without draining (a write found it
  /// full and it has not been empty since); empty when it is not.
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> full_since() const;

private:
  /// Appends encoded bytes, a message on `channel`, to the queue, applying
  /// the overflow policy; sends them straight to the stream when it is
  /// idle. If the protocol switched since `encoded_with` was read, queues
  /// nothing and returns false, for the caller to encode again.
  /// `block`, if not null, holds `bytes`, and is queued by reference
  /// instead of copied (see shared_from).
  bool enqueue(std::string_view bytes, std::shared_ptr<const std::string> block,
               std::string_view channel, const protocol::writer* encoded_with,
               std::error_code& ec);
  /// With the lock held: keeps `bytes` (in `block`, if not null) as the
  /// latest message on `channel` until the queue drains.
  void hold_locked(std::string_view channel, std::string_view bytes,
                   std::shared_ptr<const std::string> block);
  /// With the lock held: queues the held messages, in the order their
  /// channels were first held.
  void release_held_locked();
  /// With the lock held: where what is queued now ends in the stream,
  /// counted as written_total_ is.
  [[nodiscard]] std::uint64_t queued_end_locked() const noexcept {
    return written_total_ + inflight_.size() + pending_.size();
  }
  /// Tells the user if the queue just began to hold messages.
  void report_conflation();
  /// With the lock held: makes sure a write will pick up what is queued.
  void kick_locked();
  /// With the lock held: queues an image and marks it in flight.
  void start_image_locked(image_flow::frame frame, const protocol::writer& encoded_with);
  /// With the lock held: retires images done and starts the pending frame
  /// if there is room. Returns whether anything changed.
  bool retire_images_locked();
  /// Adds to a counter that only the lock holder writes.
  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  outbox_user& user_;
  const limits limits_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  state state_ = state::open;
  std::error_code reason_;
  transport::stream* stream_; // null once closed
  write_queue pending_;  // appended by writers
  write_queue inflight_; // being written by the I/O thread
  bool writing_ = false; // a write (or a post to start one) is under way
  // Messages held while the queue is full (overflow_policy::conflate), the
  // latest per channel; new writes join them until they are queued, so a
  // channel's messages never overtake each other.
  struct held {
    std::string channel;
    std::string bytes;
    std::shared_ptr<const std::string> block; // instead of bytes, if not null
  };
  std::vector<held> held_;
  std::optional<std::chrono::steady_clock::time_point> full_since_;
  std::atomic<bool> conflation_news_{false};
  std::atomic<std::uint64_t> conflated_{0};
  std::uint32_t acks_owed_ = 0;
  bool pong_owed_ = false;
  bool ping_due_ = false;
  std::uint64_t written_total_ = 0; // bytes handed to the operating system
  // Where the last message or image queued ends, counted as written_total_
  // is (flush waits for written_total_ to pass it); unreachable once a
  // close has dropped held messages, which are queued without a place.
  std::uint64_t messages_end_ = 0;
  // Set under the lock at a switch; read without it to choose an encoding,
  // which enqueue checks again under the lock.
  std::atomic<const protocol::writer*> writer_;
  std::chrono::steady_clock::time_point last_direct_write_{};
  image_flow images_;
  std::atomic<bool> open_{true};
  std::atomic<std::uint64_t> messages_out_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
};

template <class Encode>
void outbox::write(std::string_view channel, Encode&& encode, std::error_code& ec) {
  // One encoding buffer per thread saves an allocation per message.
  thread_local std::string buffer;
  const auto* w = &writer();
  for (;;) {
    buffer.clear();
    encode(buffer, *w);
    bool done;
    if (buffer.size() >= shared_from) {
      // The encoding becomes the block queued; the next write here
      // allocates a buffer again, which next to a large message is cheap.
      auto block = std::make_shared<const std::string>(std::move(buffer));
      buffer = std::string();
      done = enqueue(*block, block, channel, w, ec);
    } else {
      done = enqueue(buffer, nullptr, channel, w, ec);
    }
    if (done || ec) break;
    w = &writer(); // it switched meanwhile
  }
  report_conflation();
  // A buffer that held one large message is given back.
  if (buffer.capacity() > 256 * 1024) std::string().swap(buffer);
}

} // namespace socketengine::detail
