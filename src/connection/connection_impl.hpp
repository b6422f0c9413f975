#pragma once
// The state behind socketengine::connection. It puts together the units of
// a connection, each in a file of its own: the stream it reads and writes
// (transport/), the protocol reader of the moment (protocol/), what it
// received (value_store), what it sends (outbox), and the owner it reports
// to (owner.hpp). What is left here is the I/O thread's work
// (connection_io.cpp): the read loop, the write loop, the close state
// machine, and handing decoded input on, as the protocols' receiver.
//
// Threading: the stream, the reader and the close state belong to the I/O
// thread; the store and the outbox lock for themselves; counters are
// atomics. A connection never holds one of its locks while taking the
// other or calling its owner (see docs/design.md, Locks).

#include <asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include <socketengine/connection.hpp>

#include "connection/link_watch.hpp"
#include "connection/outbox.hpp"
#include "connection/owner.hpp"
#include "connection/value_store.hpp"
#include "protocol/reader.hpp"
#include "protocol/receiver.hpp"
#include "protocol/suite.hpp"
#include "transport/stream.hpp"
#include "util/memory_budget.hpp"

namespace socketengine {

struct connection::impl final : detail::protocol::receiver,
                                detail::transport::stream_user,
                                detail::outbox_user {
  impl(connection& handle, const std::shared_ptr<detail::connection_owner>& owner,
       std::unique_ptr<detail::transport::stream> stream,
       std::shared_ptr<const detail::protocol::suite> protocols, connection_kind kind,
       std::string name);

  /// A new connection over `stream`, named `name` (see connection::name).
  /// Not reading yet: see start().
  static std::shared_ptr<connection> make(const std::shared_ptr<detail::connection_owner>& owner,
                                          std::unique_ptr<detail::transport::stream> stream,
                                          std::shared_ptr<const detail::protocol::suite> protocols,
                                          connection_kind kind, std::string name);
  static impl& of(connection& c) noexcept { return *c.impl_; }
  static const impl& of(const connection& c) noexcept { return *c.impl_; }

  /// The handle, shared.
  [[nodiscard]] std::shared_ptr<connection> self() { return handle_.shared_from_this(); }

  // --- I/O thread ----------------------------------------------------------
  /// Starts reading, and writes anything queued before it.
  void start();
  /// Starts a graceful close: stop taking writes, optionally queue the
  /// closing message, write what is queued, half-close, and close once the
  /// peer closes too, or when the engine's timeout passes.
  void begin_close(std::error_code reason, bool send_closing);
  /// Closes the stream now and reports the close, once; or, for a
  /// connection made to redial that loses its link for any reason but a
  /// local close, closes the link only and waits for reattach().
  void finish_close(std::error_code reason);
  /// A new link for a connection waiting for one (see finish_close); kept
  /// until the old link's last handler has run if need be.
  void reattach(std::unique_ptr<detail::transport::stream> stream);
  /// Starts the new link over `stream`.
  void attach(std::unique_ptr<detail::transport::stream> stream);
  /// Lets go of the read buffer if it holds nothing (an idle connection).
  void release_idle_buffers() noexcept;
  /// Looks at the connection's clocks (see link_watch): pings the peer,
  /// or closes a connection that is too slow, silent or anonymous.
  void watch(const detail::watch_settings& s, std::chrono::steady_clock::time_point now);
  /// An accepted connection whose peer has not yet named itself (hub) or
  /// sent anything (host).
  [[nodiscard]] bool awaiting_identity() const noexcept;

  /// Reads as long as the stream has bytes, then waits for more.
  void read();
  /// Reads on after the other connections' bulk turns (see post_bulk).
  void read_later();
  /// Hands what the reader holds to it; false if reading is not to go on:
  /// the connection closed on the way, or the reader waits for work done
  /// off the I/O thread (see offload).
  bool consume(std::optional<detail::protocol::reader::outcome> first = std::nullopt);
  /// Runs the reader's work for a large message on the owner's work
  /// thread, then comes back to the I/O thread to hand it on and read on
  /// (resume). The connection reads nothing meanwhile.
  void offload(std::function<void()> work);
  void resume(std::uint64_t link);
  /// Starts writing what is queued, unless a write is under way.
  void write();
  /// A read met the end of the stream or an error: closes with the reason.
  void read_ended(std::error_code ec);
  void arm_close_timer(std::chrono::steady_clock::time_point deadline);
  /// Lets go of the stream once no operation can touch it again.
  void release_stream_when_idle();

  // --- protocol::receiver (I/O thread) ----------------------------------------
  void value_received(std::string_view channel, value&& v, std::size_t wire_bytes) override;
  void bytes_received(std::string_view channel, std::span<const std::uint8_t> bytes,
                      std::size_t wire_bytes) override;
  void image_received(image&& img, bool counted) override;
  void image_to_decode(image_decoder decode, std::size_t held, bool counted,
                       bool acknowledge) override;
  void peer_named(const std::string& name) override;
  void image_needs_ack(bool now) override;
  void images_acknowledged(std::uint32_t count) override;
  void peer_offered() override;
  void ping_received() override;
  void peer_closing() override;
  void reject(std::error_code ec, std::string detail) override;
  void fail(std::error_code ec, std::string detail) override;
  [[nodiscard]] bool make_room(std::size_t wanted) override;
  [[nodiscard]] bool open() const noexcept override { return !io_closed_; }
  void handshake_reply(std::string_view line) override;
  void peer_authenticated(bool legacy, bool offers_native) override;
  void refuse(std::string_view line, std::string detail) override;

  // --- transport::stream_user (I/O thread) --------------------------------------
  void on_readable(std::error_code ec) override;
  void on_written(std::error_code ec, std::size_t n) override;
  void on_write_progress(std::size_t n) noexcept override { write_progress_ = n; }
  void on_stream_idle() override { release_stream_when_idle(); }

  // --- outbox_user ------------------------------------------------------------------
  void schedule_write() override;
  [[nodiscard]] bool on_io_thread() const noexcept override;
  [[nodiscard]] std::chrono::milliseconds write_timeout() const noexcept override;
  void conflating(std::size_t queued_bytes) override;

  /// A value was stored: the owner's callbacks (given `copy`, if the owner
  /// wants messages) and waits hear of it.
  void stored(std::string_view channel, std::optional<value>&& copy, std::size_t wire_bytes);
  /// Decodes the images waiting, newest only, one after another. The
  /// owner's work thread.
  void run_decodes();
  /// Under decoding_.mu: no more decodes. True if a close the peer began
  /// waits for that (see finish_close); the caller then calls
  /// close_after_decodes() once it has let go of the lock.
  bool stop_decodes_locked();
  /// Under decoding_.mu: whether decoded images still go to the owner (the
  /// connection is open, or the close the peer began waits for them).
  [[nodiscard]] bool delivers_locked() const noexcept {
    return out_.is_open() || decoding_.close_after;
  }
  /// Ends the close the peer began, its images delivered: on the I/O
  /// thread. Any thread.
  void close_after_decodes();

  /// What the connection holds of what it received, for the budget: its
  /// values and images, and the images waiting to be decoded.
  [[nodiscard]] std::size_t held_bytes() const noexcept;
  /// Forgets all of that (the connection is being closed, or is closed,
  /// for the budget); returns how many bytes.
  std::size_t drop_held();

  /// Tells the owner if what is stored has passed the engine's budget.
  void check_budget();

  /// Why a store was refused, for the error handler.
  void refused(detail::value_store::refusal why, std::string_view channel);

  // Immutable after construction (make_connection sets the last two).
  connection& handle_;
  std::weak_ptr<detail::connection_owner> owner_;
  // Valid on the I/O thread, and on any thread while the outbox is open:
  // the owner closes every connection before it goes.
  detail::connection_owner* owner_raw_;
  std::shared_ptr<const detail::protocol::suite> protocols_;
  const connection_kind kind_;
  const std::string address_;
  const std::uint16_t port_;
  std::optional<std::string> announce_; // the name sent first on each link
  bool redial_ = false;                 // see finish_close (I/O thread once started)
  // A connection made to redial, whose redialling starts once it has first
  // authenticated: a first dial that fails to is answered, not redialled.
  bool redial_after_auth_ = false;

  // I/O thread only.
  std::unique_ptr<detail::transport::stream> stream_;
  std::unique_ptr<detail::protocol::reader> in_;
  bool io_closed_ = false;       // finish_close ran
  bool read_in_flight_ = false;  // a wait or a posted read will come back
  bool in_read_handler_ = false; // the reader is handing out input
  bool write_in_flight_ = false;
  std::size_t write_progress_ = 0; // bytes of the write in flight written so far
  bool named_ = false; // the peer sent its name
  // The link is in token authentication's handshake: in_ is an
  // auth::reader, since handshake_since_.
  bool handshaking_ = false;
  std::chrono::steady_clock::time_point handshake_since_{};
  // Reading waits for the work thread (see offload): the link watch does
  // not blame the peer for the silence.
  bool waiting_for_work_ = false;
  // The link is lost and a new one awaited (see finish_close); a new
  // stream that came before the old one's handlers all ran waits here.
  bool down_ = false;
  std::unique_ptr<detail::transport::stream> next_stream_;
  detail::link_watch watch_;
  std::weak_ptr<asio::steady_timer> close_timer_; // bounds a graceful close

  detail::value_store store_;
  detail::outbox out_;

  // Images waiting to be decoded on the work thread, oldest first, and
  // whether a decode runs. A peer within its window of images in flight
  // (2 by default) never has more waiting than this; past it, the oldest
  // waiting is dropped (and acknowledged), so a peer that ignores the
  // window gets its latest images decoded and holds at most this many.
  static constexpr std::size_t max_waiting_images = 4;
  struct decode_job {
    image_decoder decode;
    bool counted;
    bool acknowledge;
    std::uint64_t link; // acknowledged only on the link it came over
    detail::budget_charge held; // what `decode` holds, until it goes
  };
  struct decoding {
    mutable std::mutex mu;
    std::deque<decode_job> waiting;
    bool running = false;
    // The peer ended the connection while its images were still being
    // decoded: they are delivered, and the close ends after them.
    bool close_after = false;
  } decoding_;

  // Counts the links: 0 for the first, one more for each reattach.
  std::atomic<std::uint64_t> link_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  // A peer past max_channels usually keeps writing new channels: the first
  // refusal is reported, the rest only counted (stats().errors), so that a
  // program that outgrew the limit hears of it once instead of a flood.
  std::atomic<bool> channel_limit_reported_{false};
};

} // namespace socketengine
