#pragma once
// The state behind socketengine::connection and its socket I/O.
//
// Split by owner: the socket, the line reader and the close timer belong to
// the I/O thread; the stored values (store_mu_) and the write queue
// (write_mu_) are shared with user threads; counters are atomics.

#include <asio.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <socketengine/connection.hpp>
#include <socketengine/options.hpp>

#include "net/waiting_channels.hpp"
#include "net/write_queue.hpp"
#include "wire/frame_reader.hpp"
#include "wire/line_reader.hpp"

namespace socketengine {

namespace detail {
class engine_core;

// Lets unordered_map<std::string, ...> be searched with a string_view
// without building a std::string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// One image encoded for each protocol it is sent in, each made on first
/// use and shared by every connection it goes to: a base64 PNG line for
/// legacy peers, a frame in the chosen encoding for native ones. When both
/// are PNG, the PNG is encoded once.
class image_forms {
public:
  image_forms(const image& img, std::string_view channel, const image_options& options,
              image_encoding encoding)
      : img_(img), channel_(channel), options_(options), encoding_(encoding) {}

  /// The encoded line (native false) or frame (native true).
  /// \throws as the encoders; std::bad_alloc.
  const std::shared_ptr<const std::string>& get(bool native);

private:
  const image& img_;
  std::string_view channel_;
  const image_options& options_;
  image_encoding encoding_;
  std::string png_;
  std::shared_ptr<const std::string> forms_[2];
};
} // namespace detail

struct connection::impl {
  enum class state { open, closing, closed };

  impl(const std::shared_ptr<detail::engine_core>& core, asio::ip::tcp::socket s,
       connection_kind kind, std::string name, std::string address, std::uint16_t port);

  // --- I/O thread --------------------------------------------------------
  /// Starts the read loop and sends anything queued before it.
  static void start(const std::shared_ptr<connection>& self);
  /// Starts a graceful close: stop taking writes, optionally queue
  /// `__status`/`__closing`, write what is queued, half-close, and close
  /// once the peer closes too, or when the engine's timeout passes.
  static void begin_close(const std::shared_ptr<connection>& self, std::error_code reason,
                          bool send_status);
  /// Closes the socket now and reports the disconnect once.
  static void finish_close(const std::shared_ptr<connection>& self, std::error_code reason);

  // --- any thread --------------------------------------------------------
  /// Appends encoded bytes to the write queue, applying the overflow
  /// policy. `native` says which protocol they were encoded in: if the
  /// connection switched meanwhile nothing is queued and this returns
  /// false, for the caller to encode again. `force` skips the bound
  /// (protocol replies from the I/O thread).
  bool enqueue(const std::shared_ptr<connection>& self, std::string_view bytes, bool native,
               std::error_code& ec, bool force = false);

  /// Encodes with `encode(std::string& out, bool native)` in the protocol
  /// the connection sends, and queues the result (see enqueue).
  template <class Encode>
  void write_encoded(const std::shared_ptr<connection>& self, Encode&& encode,
                     std::error_code& ec) {
    // One encoding buffer per thread saves an allocation per message.
    thread_local std::string buffer;
    bool native = sends_native();
    do {
      buffer.clear();
      encode(buffer, native);
    } while (!enqueue(self, buffer, native, ec) && !ec && (native = sends_native(), true));
    trim(buffer);
  }

  /// True once this side sends native frames (see switch_output).
  [[nodiscard]] bool sends_native() const noexcept {
    return native_out_.load(std::memory_order_acquire);
  }

  /// Queues what a connection sends first, before it is listed where a
  /// user could write to it: `first_line` (the `__name_conn` line of a
  /// hub's dial; may be empty), then the native offer if enabled.
  void queue_greeting(std::string_view first_line);

  /// Sends an encoded image now, keeps it as the pending frame, or drops it
  /// (see connection::write_image).
  image_status send_image(const std::shared_ptr<connection>& self, detail::image_forms& forms,
                          std::error_code& ec);

  /// Gives back a thread's encoding buffer after a large message.
  static void trim(std::string& buffer) {
    if (buffer.capacity() > 256 * 1024) std::string().swap(buffer);
  }

  // --- I/O thread --------------------------------------------------------
  static void do_read(const std::shared_ptr<connection>& self);
  static void read_frames(const std::shared_ptr<connection>& self);
  /// A read failed or met the end of the stream: closes with the reason.
  static void read_ended(const std::shared_ptr<connection>& self, std::error_code ec);
  /// Lets go of the frame buffer if it holds nothing (an idle connection).
  void release_idle_buffer();
  /// Hands what the frame reader holds to handle_frame; false if the
  /// connection closed (or must close) on the way.
  bool consume_frames(const std::shared_ptr<connection>& self);
  static void do_write(const std::shared_ptr<connection>& self);
  static void handle_line(const std::shared_ptr<connection>& self, std::string_view line);
  void handle_frame(const std::shared_ptr<connection>& self, std::span<const std::uint8_t> body,
                    std::shared_ptr<const void> owner);
  /// What a legacy line or a native JSON frame carries once decoded: the
  /// reserved channels act, others are stored.
  void handle_message(const std::shared_ptr<connection>& self, std::string& channel, value&& data,
                      std::size_t wire_bytes);
  /// A `__native` line: the peer's offer or its switch.
  void handle_native_line(const std::shared_ptr<connection>& self, const value& data);
  /// Appends `v` as a legacy line; bytes are announced first (see the
  /// `bytes` hint in docs/native-protocol.md). Any thread.
  void append_legacy(std::string& out, std::string_view channel, const value& v) const;
  /// The peer offered the native protocol: queue the switch line; all
  /// that is written after it is in frames.
  void switch_output(const std::shared_ptr<connection>& self);
  /// Counts a piece of bad input and reports it to the error handler.
  void reject(const std::shared_ptr<connection>& self, std::error_code ec, std::string detail);
  /// Stores a value, hands it to the message handlers and wakes waiters.
  void deliver(const std::shared_ptr<connection>& self, std::string_view channel, value&& v,
               std::size_t wire_bytes);
  /// Stores a value; false if it was refused (too many channels).
  bool store(std::string_view channel, value&& v, const std::shared_ptr<connection>& self);
  /// Stores what `assign(value& slot)` puts in the channel's slot, as store.
  template <class Assign>
  bool store_with(std::string_view channel, const std::shared_ptr<connection>& self,
                  Assign&& assign);
  /// deliver() for a bytes frame, reusing the last value's buffer.
  void deliver_bytes(const std::shared_ptr<connection>& self, std::string_view channel,
                     std::span<const std::uint8_t> bytes, std::size_t wire_bytes);
  /// Decodes the base64 PNG of an image line and stores the image
  /// (acknowledging it first on hub connections), or reports why not.
  void receive_image(const std::shared_ptr<connection>& self, std::string_view base64);
  /// Stores a received image, wakes its readers and hands it to the image
  /// handlers; `count`: it counts as a message received.
  void store_image(const std::shared_ptr<connection>& self, image&& img, bool count);
  /// Queues an acknowledgement of one received image.
  void acknowledge_image(const std::shared_ptr<connection>& self);
  /// The peer acknowledged `count` images.
  void image_acknowledged(const std::shared_ptr<connection>& self, std::uint32_t count);

  /// With write_mu_ held: retires the images in flight that are written and
  /// acknowledged (or need no acknowledgement), and starts the pending frame
  /// if there is room. Returns whether anything changed.
  bool retire_images_locked(const std::shared_ptr<connection>& self);
  /// With write_mu_ held: how many images may be in flight.
  [[nodiscard]] std::size_t image_limit_locked() const noexcept;
  /// With write_mu_ held: queues an encoded image and marks it in flight.
  void start_image_locked(const std::shared_ptr<connection>& self,
                          std::shared_ptr<const std::string> bytes, bool native,
                          detail::engine_core& core);
  /// With write_mu_ held: makes sure a write will pick up what is queued.
  void kick_locked(const std::shared_ptr<connection>& self, detail::engine_core& core);
  void release_socket_when_idle();
  void arm_close_timer(const std::shared_ptr<connection>& self,
                       std::chrono::steady_clock::time_point deadline);

  /// Waits on store_cv_, with store_mu_ held by `lk`, until `ready()` or
  /// the deadline; returns ready(). Before sleeping it watches for a store
  /// for up to 100 microseconds: a reply that comes that soon (a
  /// request/response over a fast link) is then picked up without the
  /// I/O thread waking this one, which costs as much again as the reply's
  /// trip over loopback.
  template <class Pred>
  bool wait_store(std::unique_lock<std::mutex>& lk, std::chrono::steady_clock::time_point deadline,
                  Pred&& ready) const {
    if (ready()) return true;
    auto seen = stores_.load(std::memory_order_relaxed);
    lk.unlock();
    spin_for_store(seen, deadline);
    lk.lock();
    return store_cv_.wait_until(lk, deadline, ready);
  }
  void spin_for_store(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const;

  /// True once the connection has fully closed (not merely closing).
  [[nodiscard]] bool closed() const {
    std::lock_guard lk(write_mu_);
    return state_ == state::closed;
  }

  // Immutable after construction.
  std::weak_ptr<detail::engine_core> core_;
  // Valid on the I/O thread, and on any thread that holds write_mu_ and
  // sees state_ open: the engine closes every connection before it goes.
  detail::engine_core* core_raw_;
  const connection_kind kind_;
  const std::string address_;
  const std::uint16_t port_;
  const limits limits_;
  const image_options images_;
  const bool hub_protocol_;
  const bool offer_native_;
  const int fd_; // the socket's descriptor, for writes from the writer's thread

  // I/O thread only.
  std::optional<asio::ip::tcp::socket> socket_;
  bool io_closed_ = false; // finish_close ran
  bool read_in_flight_ = false;
  bool in_read_handler_ = false; // lines or frames are being handled
  bool native_in_ = false;       // the peer's switch line has been read
  std::optional<std::string> bytes_hint_; // the next value on it is base64 bytes
  detail::line_reader reader_;   // until then
  detail::frame_reader frames_;  // from then on
  std::weak_ptr<asio::steady_timer> close_timer_; // bounds a graceful close
  bool write_in_flight_ = false;

  // Values and name.
  struct entry {
    value data;
    std::uint64_t version;
  };
  mutable std::mutex store_mu_;
  mutable std::condition_variable store_cv_;
  std::string name_;
  std::unordered_map<std::string, entry, detail::string_hash, std::equal_to<>> values_;
  std::uint64_t version_ = 0;
  // Counts stores (and the close), for waits that spin (see wait_store).
  std::atomic<std::uint64_t> stores_{0};
  image image_;                    // the last image received; empty if none
  std::uint64_t image_version_ = 0;
  bool store_closed_ = false; // wakes waiters when the connection ends
  // Who is waiting (see waiting_channels); images count their readers.
  detail::waiting_channels waited_channels_;
  std::size_t image_waiters_ = 0;

  // Write queue and connection state.
  mutable std::mutex write_mu_;
  mutable std::condition_variable write_cv_;
  state state_ = state::open;
  std::error_code reason_;
  detail::write_queue pending_;  // appended by writers
  detail::write_queue inflight_; // being written by the I/O thread
  bool writing_ = false; // a write (or a post to start one) is under way
  std::uint32_t acks_owed_ = 0; // images received and not yet acknowledged
  std::uint64_t written_total_ = 0; // bytes handed to the operating system
  // Set (under write_mu_) when the switch line is queued: every later
  // write is a frame. Read without the lock to choose an encoding, which
  // enqueue checks again under it.
  std::atomic<bool> native_out_{false};
  // When a message last went straight from a writer's thread to the socket
  // (see enqueue).
  std::chrono::steady_clock::time_point last_direct_send_{};

  // Images sent: up to image_limit_locked() in flight, oldest first, and
  // one pending.
  struct image_flight {
    std::uint64_t end; // written once written_total_ reaches this
    bool needs_ack;    // host/client legacy peers acknowledge nothing
    bool acked;        // may come before the image is written: it counts once it is
  };
  std::deque<image_flight> images_out_;
  std::shared_ptr<const std::string> pending_image_;
  std::atomic<bool> open_{true};

  std::atomic<std::uint64_t> messages_in_{0};
  std::atomic<std::uint64_t> messages_out_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::uint64_t> errors_{0};
};

} // namespace socketengine
