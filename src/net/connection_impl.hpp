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
  /// Appends an encoded line to the write queue, applying the overflow
  /// policy. `force` skips the bound (protocol replies from the I/O thread).
  void enqueue(const std::shared_ptr<connection>& self, std::string_view bytes,
               std::error_code& ec, bool force = false);

  /// Queues bytes ahead of start() (the `__name_conn` line of a dial).
  void queue_first(std::string_view bytes);

  static void do_read(const std::shared_ptr<connection>& self);
  static void do_write(const std::shared_ptr<connection>& self);
  static void handle_line(const std::shared_ptr<connection>& self, std::string_view line);
  /// Counts a piece of bad input and reports it to the error handler.
  void reject(const std::shared_ptr<connection>& self, std::error_code ec, std::string detail);
  /// Stores a value, hands it to the message handlers and wakes waiters.
  void deliver(const std::shared_ptr<connection>& self, const std::string& channel, value&& v,
               std::size_t line_bytes);
  /// Stores a value; false if it was refused (too many channels).
  bool store(const std::string& channel, value&& v, const std::shared_ptr<connection>& self);
  /// Decodes the base64 PNG of an image message and stores the image
  /// (acknowledging it first on hub connections), or reports why not.
  void receive_image(const std::shared_ptr<connection>& self, std::string_view base64);
  void acknowledge_image(const std::shared_ptr<connection>& self);
  /// The peer acknowledged the image in flight (hub connections).
  void image_acknowledged(const std::shared_ptr<connection>& self);

  /// Sends an encoded image line now, keeps it as the pending frame, or
  /// drops it (see connection::write_image). Any thread.
  image_status send_image(const std::shared_ptr<connection>& self,
                          std::shared_ptr<const std::string> line, std::error_code& ec);
  /// With write_mu_ held: the image in flight is done; the pending frame,
  /// if any, is queued in its place.
  void image_done_locked(const std::shared_ptr<connection>& self);
  /// With write_mu_ held: queues an image line and marks it in flight.
  void start_image_locked(const std::shared_ptr<connection>& self, std::string_view line,
                          detail::engine_core& core);
  /// With write_mu_ held: appends to the write queue and makes sure a
  /// write will pick it up.
  void append_locked(const std::shared_ptr<connection>& self, std::string_view bytes,
                     detail::engine_core& core);
  void release_socket_when_idle();
  void arm_close_timer(const std::shared_ptr<connection>& self,
                       std::chrono::steady_clock::time_point deadline);

  /// True once the connection has fully closed (not merely closing).
  [[nodiscard]] bool closed() const {
    std::lock_guard lk(write_mu_);
    return state_ == state::closed;
  }

  // Immutable after construction.
  std::weak_ptr<detail::engine_core> core_;
  detail::engine_core* core_raw_; // valid on the I/O thread
  const connection_kind kind_;
  const std::string address_;
  const std::uint16_t port_;
  const limits limits_;
  const image_options images_;
  const bool hub_protocol_;

  // I/O thread only.
  std::optional<asio::ip::tcp::socket> socket_;
  bool io_closed_ = false; // finish_close ran
  bool read_in_flight_ = false;
  bool in_read_handler_ = false; // lines are being handled from reader_
  detail::line_reader reader_;
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
  std::string pending_;  // appended by writers
  std::string inflight_; // being written by the I/O thread
  bool writing_ = false; // a write (or a post to start one) is under way
  bool ack_queued_ = false; // an __ack waits in pending_
  std::uint64_t written_total_ = 0; // bytes handed to the operating system

  // Images sent: at most one in flight and one pending.
  bool image_in_flight_ = false;
  bool early_ack_ = false; // acknowledged before it was fully written
  std::shared_ptr<const std::string> pending_image_;
  // Host/client connections, which get no acknowledgement: the image in
  // flight is out once written_total_ reaches this.
  std::uint64_t image_end_ = 0;
  std::atomic<bool> open_{true};

  std::atomic<std::uint64_t> messages_in_{0};
  std::atomic<std::uint64_t> messages_out_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::uint64_t> errors_{0};
};

} // namespace socketengine
