#pragma once
// The shared machinery of hub, host and client: one io_context on one I/O
// thread, a callback thread, the listeners, the list of connections,
// handlers and waits. It owns connections and reaches them through
// connection/control.hpp; they reach it through connection_owner.
//
// Threading: the I/O thread owns every listener, dial and connection's
// stream. Other threads reach them only through asio::post. The connection
// list, handlers and wait state are guarded by mutexes so that the public
// API can read them from any thread.

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/handlers.hpp>
#include <socketengine/options.hpp>

#include "connection/link_watch.hpp"
#include "connection/owner.hpp"
#include "util/waiting_channels.hpp"
#include "engine/callbacks.hpp"
#include "engine/dispatcher.hpp"
#include "protocol/settings.hpp"
#include "protocol/suite.hpp"
#include "transport/dial.hpp"
#include "transport/listener.hpp"
#include "util/deadline.hpp"

namespace socketengine::detail {

namespace transport::tls {
class config;
}

struct engine_config {
  std::string label; // "hub", "host" or "client", for messages
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds connect_timeout{10000};
  /// The protocols: `hub` for a hub's flavour (`__name_conn` on dial,
  /// `__status` on close, acknowledged images on `__image`).
  protocol::settings protocols;
  keepalive_options keepalive;
  /// For connections this engine dials (disabled for hosts, which dial
  /// none).
  reconnect_options reconnect;
  /// Added to the work thread's nice value (hub_options::work_thread_nice).
  int work_thread_nice = 0;
  /// auth_options::timeout, when protocols.token is set.
  std::chrono::milliseconds auth_timeout{5000};
  /// TLS on TCP links; null: none.
  std::shared_ptr<const transport::tls::config> tls{};
};

/// Puts `a`'s token authentication into `cfg`: reads the token (see
/// auth::resolve_token; `who` starts messages).
/// \throws std::invalid_argument, std::system_error as resolve_token.
void apply_auth(engine_config& cfg, const auth_options& a, std::string_view who);

/// Puts `t` into `cfg` (see tls::make_config). `listens`: the engine
/// listens on TCP, so TLS needs a certificate.
/// \throws std::invalid_argument, std::system_error as tls_options says.
void apply_tls(engine_config& cfg, const tls_options& t, std::string_view who, bool listens);

class engine_core final : public connection_owner,
                          public std::enable_shared_from_this<engine_core> {
public:
  explicit engine_core(engine_config cfg);
  ~engine_core();
  engine_core(const engine_core&) = delete;
  engine_core& operator=(const engine_core&) = delete;

  /// Starts the I/O and callback threads. Called once, right after
  /// make_shared (the threads need shared_from_this).
  void start();

  [[nodiscard]] const engine_config& config() const noexcept { return cfg_; }
  void set_timeout(std::chrono::milliseconds t) noexcept {
    timeout_ms_.store(t.count(), std::memory_order_relaxed);
  }

  // --- connection_owner -----------------------------------------------------
  asio::io_context& io() noexcept override { return io_; }
  [[nodiscard]] bool on_io_thread() const noexcept override {
    return std::this_thread::get_id() == io_thread_id_;
  }
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept override {
    return std::chrono::milliseconds(timeout_ms_.load(std::memory_order_relaxed));
  }
  /// Closing and posting exclude each other, so nothing is posted after the
  /// I/O thread may have run out of work.
  bool post_unless_closing(std::function<void()> fn) override;
  void post_bulk(std::function<void()> fn) override;
  /// On the work thread, one job at a time (each connection has at most
  /// one decode and one large message queued: see
  /// connection::impl::image_to_decode and offload).
  bool post_work(std::function<void()> fn) override;
  void message_arrived(const std::shared_ptr<connection>& c, std::string_view channel, value v,
                       std::size_t bytes) override;
  void image_arrived(const std::shared_ptr<connection>& c, image img) override;
  /// Wakes wait_for_channel callers waiting for `channel`. Cheap when
  /// nobody waits for it: a flood on one channel must not wake a waiter of
  /// another on every message.
  void value_stored(std::string_view channel) override;
  void report(const std::shared_ptr<connection>& c, std::error_code ec,
              std::string detail) override;
  void connection_closed(const std::shared_ptr<connection>& c) override;
  /// Reports the loss, runs the link-down handlers and redials after the
  /// backoff (see reconnect_options).
  void link_down(const std::shared_ptr<connection>& c, std::error_code reason) override;
  void link_up(const std::shared_ptr<connection>& c) override;
  void authenticated(const std::shared_ptr<connection>& c) override;
  /// Queues enforce_budget on the I/O thread, once however often called.
  void budget_spent() override;
  bool make_room(std::size_t wanted, const connection& asking) override;

  // --- listening (any thread but the I/O thread) -----------------------------
  /// Binds and listens where `request` says, on the transport its address
  /// names; accepting starts with start_accepting().
  /// \throws std::system_error naming the endpoint.
  void listen(const transport::listen_request& request);
  /// Listens on an endpoint that carries no port, such as "unix:PATH",
  /// making its socket file with `file_mode` (see listen_request).
  void listen(std::string_view endpoint, std::optional<std::uint32_t> file_mode);
  /// The TCP port listened on; 0 if none.
  [[nodiscard]] std::uint16_t listen_port() const noexcept { return listen_port_.load(); }
  [[nodiscard]] bool listening() const noexcept { return listening_.load(); }
  void start_accepting();

  // --- dialling (any thread but the I/O thread; blocks) ------------------
  /// Dials `address` (and `port`, for TCP) on the transport the address
  /// names. `announce`: the name a hub sends first. With `keep_waiting`,
  /// calls it on the calling thread every dial_poll while the attempt is in
  /// progress, and abandons the attempt (std::errc::operation_canceled)
  /// when it returns false.
  std::shared_ptr<connection> dial(std::optional<std::string_view> announce,
                                   std::string_view address, std::uint16_t port,
                                   std::error_code& ec,
                                   const std::function<bool()>& keep_waiting = {});
  static constexpr std::chrono::milliseconds dial_poll{50};
  /// A TCP address and port to try.
  struct candidate {
    std::string address;
    std::uint16_t port = 0;
  };
  /// Dials every candidate at once, one attempt each of at most
  /// `attempt_timeout`; the first to connect becomes the connection (as
  /// dial() makes it, redialling that address) and the others are
  /// dropped. Fails with the last candidate's error when none connects.
  std::shared_ptr<connection> dial_any(std::string_view announce,
                                       const std::vector<candidate>& candidates,
                                       std::chrono::milliseconds attempt_timeout,
                                       std::error_code& ec);

  // --- services --------------------------------------------------------------
  /// Runs `start` on the I/O thread, and `stop` there when the engine
  /// closes, before the I/O thread ends: for what runs beside the
  /// connections on that thread, such as a hub's discovery responder.
  /// Neither runs if the engine is closing already. Any thread.
  void add_service(std::function<void()> start, std::function<void()> stop);

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
  /// Encodes the message once per protocol in use and queues it on each
  /// open connection that passes `keep`. Returns how many took it.
  /// \throws std::system_error errc::invalid_utf8.
  std::size_t write_each(const connection_filter& keep, std::string_view channel, const value& v);
  /// Encodes `img` once per protocol in use and sends it on each open
  /// connection that passes `keep` (see connection::write_image). Returns
  /// how many took it; `share_pixels`: raw frames keep `img` instead of a
  /// copy of its pixels (see share_pixels). \throws std::invalid_argument
  /// for an empty image.
  std::size_t write_image_each(const connection_filter& keep, const image& img,
                               bool share_pixels = false);

  // --- handlers ------------------------------------------------------------
  void add_handler(std::string_view channel, message_handler h);
  void add_any_handler(any_message_handler h);
  void add_image_handler(image_handler h);
  void add_lifecycle_handler(callbacks::event e, connection_handler h);
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

  // --- shutdown ------------------------------------------------------------
  void close();
  [[nodiscard]] bool is_open() const noexcept { return !closing_.load(); }

private:
  struct dial_result;
  struct redialer;

  /// Brings what connections keep back under the budget, with room for
  /// `wanted` more: drops what closed connections kept, oldest first, then
  /// closes the open connections that keep the most (never `asking`), each
  /// reported. Returns whether there is room. I/O thread.
  bool enforce_budget(std::size_t wanted, const connection* asking);
  /// Arms r's next attempt after its backoff. I/O thread.
  void schedule_redial(const std::shared_ptr<redialer>& r);
  /// Makes one attempt to reach r's peer again. I/O thread.
  void redial(const std::shared_ptr<redialer>& r);

  /// Lists a new connection, tells the connect handlers and starts it.
  /// I/O thread.
  void add_connection(const std::shared_ptr<connection>& c);
  /// Lists a connection and tells the connect handlers. I/O thread.
  void list_connection(const std::shared_ptr<connection>& c);
  /// Starts a connection that authenticates first (a token): listed, and
  /// `dial` answered, once it has (authenticated). I/O thread.
  void start_unlisted(const std::shared_ptr<connection>& c, std::shared_ptr<dial_result> dial,
                      std::string address, std::uint16_t port);
  /// Makes the connection of a dial that reached its peer over `s`, and
  /// answers `result` (at once, or once authenticated). I/O thread.
  void dialled(std::unique_ptr<transport::stream> s, const std::optional<std::string>& name,
               const std::shared_ptr<dial_result>& result, const std::string& address,
               std::uint16_t port);
  /// Hands what `l` accepts to new connections. I/O thread.
  void accept_on(transport::listener& l);
  void run_on_io(const std::function<void()>& fn);
  void arm_sweep();
  /// Makes a connection over an accepted or dialled stream, with the
  /// transport watching the link.
  std::shared_ptr<connection> connect_stream(std::unique_ptr<transport::stream> s,
                                             connection_kind kind,
                                             std::optional<std::string_view> announce);
  /// Whether an accepted stream may become a connection under
  /// limits::max_unidentified; may close the oldest unidentified one to
  /// make room. I/O thread.
  bool admit_unidentified(const transport::peer& who);

  engine_config cfg_;
  std::shared_ptr<const protocol::suite> protocols_;
  std::atomic<std::int64_t> timeout_ms_;

  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::thread::id io_thread_id_;
  std::shared_ptr<callbacks> callbacks_;
  // Decodes images off the I/O thread (see post_work).
  std::unique_ptr<dispatcher> worker_;

  // I/O thread only: the connections' turns waiting in post_bulk, and
  // whether one is posted to run.
  std::deque<std::function<void()>> bulk_;
  bool bulk_posted_ = false;
  void run_bulk();

  // I/O thread only. Listeners stay until the engine is destroyed, after
  // the I/O thread has ended (see transport/listener.hpp).
  std::vector<std::unique_ptr<transport::listener>> listeners_;
  // Every watch_.tick(), each connection's clocks are looked at (see
  // connection/link_watch.hpp); every second, idle connections let go of
  // their read buffers.
  std::optional<asio::steady_timer> sweep_;
  watch_settings watch_;
  std::chrono::steady_clock::time_point last_release_{};
  // Accepted connections not yet identified, oldest first, with when they
  // came; entries that have identified or closed are pruned lazily.
  struct newcomer {
    std::weak_ptr<connection> conn;
    std::chrono::steady_clock::time_point since;
  };
  std::deque<newcomer> unidentified_;
  bool accepting_ = false;
  std::vector<std::weak_ptr<transport::dial_attempt>> dials_;
  // What add_service started, to stop at close. I/O thread only.
  std::vector<std::function<void()>> service_stops_;
  // Connections authenticating (a token), not listed yet: with the dial to
  // answer once they have, and where to redial them from then on.
  struct unlisted {
    std::shared_ptr<connection> conn;
    std::shared_ptr<dial_result> dial;
    std::string address;
    std::uint16_t port = 0;
  };
  std::vector<unlisted> unlisted_;
  // Where each connection made to redial dials again, by connection.
  std::unordered_map<const connection*, std::shared_ptr<redialer>> redialers_;
  std::minstd_rand jitter_; // backoff_delay's randomness
  std::atomic<bool> budget_check_queued_{false};
  std::atomic<std::uint16_t> listen_port_{0};
  std::atomic<bool> listening_{false};

  // Connection list; `list_mu_` is never held while calling out.
  mutable std::mutex list_mu_;
  std::vector<std::shared_ptr<connection>> list_;
  std::size_t open_count_ = 0;

  mutable std::mutex wait_mu_;
  mutable std::condition_variable wait_cv_;
  mutable waiting_channels waited_channels_; // see wait_for_channel; wait_mu_

  std::mutex post_mu_; // see post_unless_closing
  std::mutex close_mu_;
  std::atomic<bool> closing_{false};
  bool closed_ = false;
};

} // namespace socketengine::detail
