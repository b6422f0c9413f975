#pragma once
// The shared machinery of hub, host and client: one io_context on one I/O
// thread, a callback thread, the list of connections, handlers and waits.
//
// Threading: the I/O thread owns every socket, the acceptor and the dial
// operations. Other threads reach them only through asio::post. The
// connection list, handlers and wait state are guarded by mutexes so that
// the public API can read them from any thread.

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/handlers.hpp>
#include <socketengine/options.hpp>

#include "engine/dispatcher.hpp"
#include "net/waiting_channels.hpp"

namespace socketengine::detail {

struct engine_config {
  std::string label; // "hub", "host" or "client", for messages
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds connect_timeout{10000};
  std::size_t read_size = 4096;
  limits lim;
  image_options images;
  bool hub_protocol = false; // send __name_conn on dial and __status on close
  bool native = true;        // offer the native protocol
};

/// Asio reports OS errors in its own category, which does not compare equal
/// to std::errc conditions; users get them in std::system_category instead.
std::error_code portable(std::error_code ec);

/// Marks a descriptor close-on-exec. Asio does not, and a child process that
/// inherited the engine's sockets would keep its port bound and its peers
/// connected after close().
void set_cloexec(int fd) noexcept;

/// steady_clock::now() + d, saturating instead of overflowing for huge d.
std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds d);

/// a + b, saturating at milliseconds::max().
std::chrono::milliseconds saturating_add(std::chrono::milliseconds a, std::chrono::milliseconds b);

class engine_core : public std::enable_shared_from_this<engine_core> {
public:
  explicit engine_core(engine_config cfg);
  ~engine_core();
  engine_core(const engine_core&) = delete;
  engine_core& operator=(const engine_core&) = delete;

  /// Starts the I/O and callback threads. Called once, right after
  /// make_shared (the threads need shared_from_this).
  void start();

  asio::io_context& io() noexcept { return io_; }
  [[nodiscard]] const engine_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept {
    return std::chrono::milliseconds(timeout_ms_.load(std::memory_order_relaxed));
  }
  void set_timeout(std::chrono::milliseconds t) noexcept {
    timeout_ms_.store(t.count(), std::memory_order_relaxed);
  }
  /// The channel images travel on: `__image` between hubs, `image` between
  /// a host and its clients.
  [[nodiscard]] std::string_view image_channel() const noexcept;
  [[nodiscard]] bool running_on_io_thread() const noexcept {
    return std::this_thread::get_id() == io_thread_id_;
  }

  // --- listening (any thread; runs on the I/O thread) ---------------------
  /// Binds and listens. With `port` empty tries `first..last` in turn.
  /// \throws std::system_error naming the address and port.
  void listen(const std::string& address, std::optional<std::uint16_t> port,
              std::uint16_t first = 8080, std::uint16_t last = 8179);
  [[nodiscard]] bool listening() const noexcept { return listen_port_.load() != 0; }
  [[nodiscard]] std::uint16_t listen_port() const noexcept { return listen_port_.load(); }
  void start_accepting();

  // --- dialling (any thread but the I/O thread; blocks) ------------------
  /// With `keep_waiting`, calls it on the calling thread every dial_poll
  /// while the attempt is in progress, and abandons the attempt
  /// (std::errc::operation_canceled) when it returns false.
  std::shared_ptr<connection> dial(std::string_view name, std::string_view address,
                                   std::uint16_t port, std::error_code& ec,
                                   const std::function<bool()>& keep_waiting = {});
  static constexpr std::chrono::milliseconds dial_poll{50};

  // --- connections -------------------------------------------------------
  [[nodiscard]] std::vector<std::shared_ptr<connection>> connections() const;
  using connection_filter = std::function<bool(const connection&)>;
  /// The last value on `channel` of each listed connection that passes
  /// `keep` and has one, in list order.
  [[nodiscard]] std::vector<value> collect(const connection_filter& keep,
                                           std::string_view channel) const;
  /// Waits until some listed connection has a value on `channel`, then
  /// returns collect(all, channel); empty on timeout or close.
  [[nodiscard]] std::vector<value> wait_for_any(std::string_view channel,
                                                std::chrono::milliseconds timeout) const;
  /// Encodes the message once and queues it on each open connection that
  /// passes `keep`. Returns how many took it.
  /// \throws std::system_error errc::invalid_utf8.
  std::size_t write_each(const connection_filter& keep, std::string_view channel, const value& v);
  /// Encodes `img` once and sends it on each open connection that passes
  /// `keep` (see connection::write_image). Returns how many took it.
  /// \throws std::invalid_argument for an empty image.
  std::size_t write_image_each(const connection_filter& keep, const image& img);

  // --- handlers ------------------------------------------------------------
  void add_handler(std::string_view channel, message_handler h);
  void add_any_handler(any_message_handler h);
  void add_image_handler(image_handler h);
  void add_connect_handler(connection_handler h);
  void add_disconnect_handler(connection_handler h);
  void set_error_handler(error_handler h);

  // --- waits -----------------------------------------------------------------
  /// Waits until pred() holds (checked under the wait lock after every
  /// change), the deadline passes or the engine closes. Returns pred().
  bool wait_until(std::chrono::steady_clock::time_point deadline,
                  const std::function<bool()>& pred) const;
  /// Like wait_until, for a value on `channel`: only values stored on that
  /// channel (and connection changes) wake this waiter.
  bool wait_for_channel(std::chrono::steady_clock::time_point deadline, std::string_view channel,
                        const std::function<bool()>& pred) const;
  /// Wakes wait_until callers; called after every connection change.
  void notify_waiters();
  /// Wakes wait_for_channel callers waiting for `channel`; called after a
  /// value is stored. Cheap when nobody waits for it: a flood on one channel
  /// must not wake a waiter of another on every message.
  void notify_channel_waiters(std::string_view channel);

  // --- events from connections (I/O thread) ------------------------------
  [[nodiscard]] bool wants_messages() const noexcept {
    return has_message_handlers_.load(std::memory_order_acquire);
  }
  /// `bytes`: the size of the line it came from, to bound the queue.
  void post_message(const std::shared_ptr<connection>& c, const std::string& channel, value v,
                    std::size_t bytes);
  [[nodiscard]] bool wants_images() const noexcept {
    return has_image_handlers_.load(std::memory_order_acquire);
  }
  void post_image(const std::shared_ptr<connection>& c, image img);
  void post_error(const std::shared_ptr<connection>& c, std::error_code ec, std::string detail);
  void on_connection_closed(const std::shared_ptr<connection>& c);

  /// Posts `fn` to the I/O thread unless the engine is closing; returns
  /// whether it was posted. Closing and posting exclude each other, so
  /// nothing is posted after the I/O thread may have run out of work.
  bool post_unless_closing(std::function<void()> fn);

  // --- shutdown ------------------------------------------------------------
  void close();
  [[nodiscard]] bool is_open() const noexcept { return !closing_.load(); }
  [[nodiscard]] bool closing() const noexcept { return closing_.load(); }

private:
  struct dial_op;

  std::shared_ptr<connection> make_connection(asio::ip::tcp::socket s, connection_kind kind,
                                              std::string name, std::string address,
                                              std::uint16_t port);
  void register_connection(const std::shared_ptr<connection>& c);
  void do_accept();
  void report(const std::shared_ptr<connection>& c, std::error_code ec, const std::string& detail);
  void post_lifecycle(const std::shared_ptr<connection>& c, bool connected);
  void run_on_io(const std::function<void()>& fn);

  engine_config cfg_;
  std::atomic<std::int64_t> timeout_ms_;

  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::thread::id io_thread_id_;
  std::unique_ptr<dispatcher> dispatcher_;

  // I/O thread only.
  asio::ip::tcp::acceptor acceptor_{io_};
  std::optional<asio::steady_timer> accept_retry_;
  // Every second, idle connections let go of their read buffers.
  std::optional<asio::steady_timer> sweep_;
  void arm_sweep();
  bool accepting_ = false;
  std::vector<std::weak_ptr<dial_op>> dials_;
  std::atomic<std::uint16_t> listen_port_{0};

  // Connection list; `list_mu_` is never held while calling out.
  mutable std::mutex list_mu_;
  std::vector<std::shared_ptr<connection>> list_;
  std::size_t open_count_ = 0;

  mutable std::mutex handlers_mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<const message_handler>>> handlers_;
  std::vector<std::shared_ptr<const any_message_handler>> any_handlers_;
  std::vector<std::shared_ptr<const image_handler>> image_handlers_;
  std::vector<std::shared_ptr<const connection_handler>> connect_handlers_;
  std::vector<std::shared_ptr<const connection_handler>> disconnect_handlers_;
  std::shared_ptr<const error_handler> error_handler_;
  std::atomic<bool> has_message_handlers_{false};
  std::atomic<bool> has_image_handlers_{false};

  mutable std::mutex wait_mu_;
  mutable std::condition_variable wait_cv_;
  mutable waiting_channels waited_channels_; // see wait_for_channel; wait_mu_

  std::mutex post_mu_; // see post_unless_closing
  std::mutex close_mu_;
  std::atomic<bool> closing_{false};
  bool closed_ = false;
};

} // namespace socketengine::detail
