#include "engine/engine_core.hpp"

#include <asio/post.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include <socketengine/error.hpp>

#include "connection/control.hpp"
#include "transport/tls/config.hpp"
#include "transport/transports.hpp"
#include "util/backoff.hpp"
#include "util/thread_name.hpp"

namespace socketengine::detail {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {
protocol::settings with_budget(protocol::settings s, milliseconds auth_timeout) {
  s.budget = std::make_shared<memory_budget>(s.limits.max_receive_bytes);
  // Enough for a few streams' frames in flight, never more than a quarter
  // of what the engine may hold of what it received.
  std::size_t pooled = std::size_t{64} << 20;
  if (s.limits.max_receive_bytes != 0) pooled = std::min(pooled, s.limits.max_receive_bytes / 4);
  // Kept a quarter of a second: a camera's next frame comes well before,
  // and what a stream that stopped (or a peer that left) held goes soon.
  s.frame_buffers = std::make_shared<buffer_pool>(4, pooled, milliseconds(250));
  // A nonce matters while its link authenticates: twice that, to be sure.
  if (s.token) s.nonces = std::make_shared<auth::nonce_registry>(2 * auth_timeout);
  return s;
}
} // namespace

void apply_auth(engine_config& cfg, const auth_options& a, std::string_view who) {
  cfg.protocols.token = auth::resolve_token({a.token, a.token_file, a.token_env}, who);
  cfg.protocols.allow_legacy = a.allow_legacy;
  cfg.auth_timeout = a.timeout;
}

namespace {
// Listening on TCP with TLS takes a certificate: checked when the engine
// is made (a host listens only at open()) and at each listen.
void check_can_listen(const transport::tls::config* tls, std::string_view who) {
  if (tls && !tls->server())
    throw std::invalid_argument("socketengine: " + std::string(who) +
                                ": listening with TLS needs tls.certificate_file and "
                                "tls.private_key_file");
}
} // namespace

void apply_tls(engine_config& cfg, const tls_options& t, std::string_view who, bool listens) {
  cfg.tls = transport::tls::make_config(t, who, cfg.protocols.limits.max_unidentified);
  if (listens) check_can_listen(cfg.tls.get(), who);
}

engine_core::engine_core(engine_config cfg)
    : cfg_(std::move(cfg)),
      protocols_(std::make_shared<const protocol::suite>(
          with_budget(cfg_.protocols, cfg_.auth_timeout))),
      timeout_ms_(cfg_.timeout.count()), jitter_(std::random_device{}()) {
  const auto& lim = cfg_.protocols.limits;
  watch_.min_receive_rate = lim.min_receive_rate;
  watch_.receive_grace = lim.receive_grace;
  // A host's clients may be silent until they write: only their number is
  // bounded (admit_unidentified), not their time.
  watch_.identify_timeout = cfg_.protocols.hub ? lim.identify_timeout : milliseconds(0);
  watch_.heartbeat_interval = cfg_.keepalive.heartbeat_interval;
  watch_.heartbeat_misses = cfg_.keepalive.heartbeat_misses;
  if (lim.on_full_queue == overflow_policy::disconnect) watch_.slow_peer_timeout = lim.slow_peer_timeout;
  if (cfg_.protocols.token) watch_.auth_timeout = cfg_.auth_timeout;
}

engine_core::~engine_core() { close(); }

void engine_core::start() {
  callbacks_ = std::make_shared<callbacks>(cfg_.label);
  callbacks_->start(cfg_.protocols.limits.max_pending_callbacks,
                    cfg_.protocols.limits.max_pending_callback_bytes);
  // Bounded by the connections: each has at most one decode and one large
  // message queued.
  worker_ = std::make_unique<dispatcher>(std::size_t{1} << 20, std::size_t{1} << 20, nullptr);
  // The work thread's nice value, raised if the owner asked
  // (work_thread_nice): Linux gives each thread its own, and raising it
  // needs no privilege. A failure leaves the thread as it was.
  worker_->post([label = cfg_.label, nice = cfg_.work_thread_nice] {
    name_this_thread(label, "work");
    if (nice == 0) return;
    errno = 0;
    int now = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (errno == 0) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), now + nice);
  });
  work_.emplace(io_.get_executor());
  io_thread_ = std::thread([this] {
    name_this_thread(cfg_.label, "io");
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // Handlers are written not to throw; this keeps a bug (or
        // bad_alloc) from taking the whole process down with the thread.
        std::fprintf(stderr, "socketengine: %s: I/O thread: %s\n", cfg_.label.c_str(), e.what());
      }
    }
  });
  io_thread_id_ = io_thread_.get_id();
  asio::post(io_, [this] {
    sweep_.emplace(io_);
    arm_sweep();
  });
}

void engine_core::arm_sweep() {
  sweep_->expires_after(watch_.tick());
  sweep_->async_wait([this](std::error_code ec) {
    if (ec || closing_) return;
    auto now = steady_clock::now();
    bool release = now - last_release_ >= std::chrono::seconds(1);
    if (release) last_release_ = now;
    for (auto& c : connections()) {
      watch(*c, watch_, now);
      if (release) release_idle_buffers(*c);
    }
    protocols_->settings().frame_buffers->trim(now);
    // A copy: a watch may close one, which leaves the list.
    auto authenticating = unlisted_;
    for (auto& u : authenticating) watch(*u.conn, watch_, now);
    arm_sweep();
  });
}

bool engine_core::post_unless_closing(std::function<void()> fn) {
  std::lock_guard lk(post_mu_);
  if (closing_) return false;
  asio::post(io_, std::move(fn));
  return true;
}

void engine_core::post_bulk(std::function<void()> fn) {
  bulk_.push_back(std::move(fn));
  if (!std::exchange(bulk_posted_, true)) asio::post(io_, [this] { run_bulk(); });
}

void engine_core::run_bulk() {
  // The next turn goes to the back of the I/O thread's queue, behind
  // whatever became ready meanwhile (the reactor's events among it); the
  // I/O thread runs until this queue is empty, even while closing.
  auto fn = std::move(bulk_.front());
  bulk_.pop_front();
  if (bulk_.empty())
    bulk_posted_ = false;
  else
    asio::post(io_, [this] { run_bulk(); });
  fn();
}

bool engine_core::post_work(std::function<void()> fn) {
  if (closing_) return false;
  return worker_->post(std::move(fn));
}

void engine_core::run_on_io(const std::function<void()>& fn) {
  if (on_io_thread()) {
    fn();
    return;
  }
  std::promise<void> done;
  auto f = done.get_future();
  bool posted = post_unless_closing([&] {
    try {
      fn();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  if (!posted) throw std::system_error(errc::engine_closed, "socketengine: " + cfg_.label);
  f.get();
}

// --- listening -------------------------------------------------------------

void engine_core::listen(const transport::listen_request& request) {
  // The error is thrown here, on the caller's thread, not inside run_on_io:
  // an exception made on the I/O thread and handed over would be freed by
  // whichever thread lets go last, through reference counts that
  // ThreadSanitizer cannot see in the uninstrumented C++ runtime.
  const auto& transport = transport::transport_for(request.address);
  bool tls = cfg_.tls && transport.scheme.empty(); // TLS is for TCP
  if (tls) check_can_listen(cfg_.tls.get(), cfg_.label);
  std::error_code ec;
  std::string what;
  run_on_io([&] {
    auto with_tls = request;
    if (tls) with_tls.tls = cfg_.tls;
    auto l = transport.listen(io_, with_tls, ec, what);
    if (!l) return;
    if (l->port() != 0) listen_port_ = l->port();
    listeners_.push_back(std::move(l));
    listening_ = true;
    if (accepting_) accept_on(*listeners_.back());
  });
  if (ec) throw std::system_error(ec, "socketengine: " + cfg_.label + ": " + what);
}

void engine_core::listen(std::string_view endpoint, std::optional<std::uint32_t> file_mode) {
  transport::listen_request r;
  r.address = endpoint;
  r.file_mode = file_mode;
  listen(r);
}

void engine_core::start_accepting() {
  post_unless_closing([this] {
    if (accepting_ || closing_) return;
    accepting_ = true;
    for (auto& l : listeners_) accept_on(*l);
  });
}

void engine_core::accept_on(transport::listener& l) {
  l.start(
      [this](std::unique_ptr<transport::stream> s) {
        if (closing_) return;
        if (!admit_unidentified(s->remote())) return; // s closes as it goes
        auto c = connect_stream(std::move(s), connection_kind::remote, std::nullopt);
        unidentified_.push_back({c, steady_clock::now()});
        if (protocols_->authenticates()) return start_unlisted(c, nullptr, {}, 0);
        add_connection(c);
      },
      [this](std::error_code ec, const std::string& what) {
        if (!closing_) callbacks_->error(nullptr, ec, what);
      });
}

bool engine_core::admit_unidentified(const transport::peer& who) {
  std::erase_if(unidentified_, [](const newcomer& n) {
    auto c = n.conn.lock();
    return !c || closed(*c) || !awaiting_identity(*c);
  });
  const auto& lim = cfg_.protocols.limits;
  if (unidentified_.size() < lim.max_unidentified) return true;
  auto why = std::to_string(unidentified_.size()) + " connections have not " +
             (cfg_.protocols.hub ? "named themselves" : "sent anything") + " yet (the limit)";
  auto oldest = unidentified_.empty() ? nullptr : unidentified_.front().conn.lock();
  if (oldest && steady_clock::now() - unidentified_.front().since > lim.identify_timeout) {
    unidentified_.pop_front();
    callbacks_->error(oldest, errc::not_identified,
                      why + ": closing the oldest, to admit one from " + who.address);
    finish_close(oldest, errc::not_identified);
    return true;
  }
  callbacks_->error(nullptr, errc::not_identified,
                    why + ": refusing a connection from " + who.address);
  return false;
}

std::shared_ptr<connection> engine_core::connect_stream(std::unique_ptr<transport::stream> s,
                                                        connection_kind kind,
                                                        std::optional<std::string_view> announce) {
  s->keep_alive(cfg_.keepalive);
  bool redial = kind == connection_kind::local && cfg_.reconnect.enabled;
  return make_connection(shared_from_this(), std::move(s), protocols_, kind, announce, redial);
}

// --- dialling ----------------------------------------------------------------

// The caller's side of a dial: the outcome it waits for. If the I/O thread
// never gets to the attempt (the engine closed first), dropping the last
// reference still answers.
struct engine_core::dial_result {
  struct outcome {
    std::error_code ec;
    std::shared_ptr<connection> conn;
  };
  std::promise<outcome> promise;
  bool set = false;

  void answer(std::error_code ec, std::shared_ptr<connection> c) {
    set = true;
    promise.set_value({ec, std::move(c)});
  }
  ~dial_result() {
    if (!set) promise.set_value({errc::engine_closed, nullptr});
  }
};

std::shared_ptr<connection> engine_core::dial(std::optional<std::string_view> announce,
                                              std::string_view address, std::uint16_t port,
                                              std::error_code& ec,
                                              const std::function<bool()>& keep_waiting) {
  bool once = cfg_.connect_timeout.count() <= 0;
  auto deadline = once ? steady_clock::time_point::max() : deadline_after(cfg_.connect_timeout);
  auto result = std::make_shared<dial_result>();
  auto answer = result->promise.get_future();
  auto attempt = std::make_shared<std::weak_ptr<transport::dial_attempt>>();
  std::optional<std::string> name;
  if (announce) name.emplace(*announce);
  bool posted = post_unless_closing([this, result, attempt, name = std::move(name),
                                     address = std::string(address), port, deadline, once] {
    if (closing_) return; // result's destructor reports engine_closed
    std::error_code dial_ec;
    auto d = transport::transport_for(address).dial(io_, {address, port, cfg_.tls}, dial_ec);
    if (!d) return result->answer(dial_ec, nullptr);
    std::erase_if(dials_, [](auto& w) { return w.expired(); });
    *attempt = transport::dial_attempt::start(
        io_, std::move(d), deadline, /*retry=*/!once,
        [this, result, name, address, port](std::error_code done_ec,
                                            std::unique_ptr<transport::stream> s) {
          if (done_ec) return result->answer(done_ec, nullptr);
          dialled(std::move(s), name, result, address, port);
        });
    dials_.push_back(*attempt);
  });
  if (!posted) {
    ec = errc::engine_closed;
    return nullptr;
  }
  const void* id = result.get(); // which unlisted connection is this dial's
  result.reset(); // from here the I/O thread holds the only reference
  if (keep_waiting) {
    while (answer.wait_for(dial_poll) != std::future_status::ready) {
      if (keep_waiting()) continue;
      // Abandoned: the attempt ends on the I/O thread, or the connection
      // that is authenticating, which nobody would be handed. If the engine
      // is closing instead, close() ends it, and the answer comes either way.
      post_unless_closing([this, attempt, id] {
        if (auto a = attempt->lock()) a->fail(std::make_error_code(std::errc::operation_canceled));
        for (auto& u : unlisted_) {
          if (u.dial.get() != id) continue;
          auto c = u.conn; // finish_close leaves the list
          finish_close(c, std::make_error_code(std::errc::operation_canceled));
          break;
        }
      });
      break;
    }
  }
  auto out = answer.get();
  ec = out.ec;
  return out.conn;
}

void engine_core::dialled(std::unique_ptr<transport::stream> s,
                          const std::optional<std::string>& name,
                          const std::shared_ptr<dial_result>& result, const std::string& address,
                          std::uint16_t port) {
  auto c = connect_stream(std::move(s), connection_kind::local,
                          name ? std::optional<std::string_view>(*name) : std::nullopt);
  // Answered once authenticated.
  if (protocols_->authenticates()) return start_unlisted(c, result, address, port);
  if (cfg_.reconnect.enabled)
    redialers_.emplace(c.get(), std::make_shared<redialer>(io_, c, address, port));
  add_connection(c);
  result->answer({}, c);
}

std::shared_ptr<connection> engine_core::dial_any(std::string_view announce,
                                                  const std::vector<candidate>& candidates,
                                                  std::chrono::milliseconds attempt_timeout,
                                                  std::error_code& ec) {
  if (candidates.empty()) {
    ec = errc::connect_timeout;
    return nullptr;
  }
  // The race, on the I/O thread: how many attempts are still out, whether
  // one has won, and the error to give if none does.
  struct race {
    std::size_t pending = 0;
    bool won = false;
    std::error_code last{errc::connect_timeout};
    std::vector<std::shared_ptr<transport::dial_attempt>> attempts;
  };
  auto result = std::make_shared<dial_result>();
  auto answer = result->promise.get_future();
  auto deadline = deadline_after(attempt_timeout);
  bool posted = post_unless_closing([this, result, candidates, deadline,
                                     name = std::optional<std::string>(announce)] {
    if (closing_) return;
    auto r = std::make_shared<race>();
    std::erase_if(dials_, [](auto& w) { return w.expired(); });
    for (const auto& to : candidates) {
      std::error_code dial_ec;
      auto d = transport::transport_for(to.address).dial(io_, {to.address, to.port, cfg_.tls},
                                                        dial_ec);
      if (!d) {
        r->last = dial_ec;
        continue;
      }
      ++r->pending;
      auto done = [this, r, result, name, to](std::error_code done_ec,
                                              std::unique_ptr<transport::stream> s) {
        --r->pending;
        if (r->won) return; // a loser: its stream, if any, closes here
        if (done_ec) {
          r->last = done_ec;
          if (r->pending == 0) {
            r->attempts.clear();
            result->answer(r->last, nullptr);
          }
          return;
        }
        r->won = true;
        // The others end now (their callbacks run from fail(), and see
        // `won`); the list goes first, as it holds them.
        auto others = std::move(r->attempts);
        for (auto& a : others) a->fail(std::make_error_code(std::errc::operation_canceled));
        dialled(std::move(s), name, result, to.address, to.port);
      };
      auto a = transport::dial_attempt::start(io_, std::move(d), deadline, /*retry=*/false, done);
      r->attempts.push_back(a);
      dials_.push_back(a);
    }
    if (r->pending == 0 && !r->won) result->answer(r->last, nullptr);
  });
  if (!posted) {
    ec = errc::engine_closed;
    return nullptr;
  }
  result.reset(); // from here the I/O thread holds the only reference
  auto out = answer.get();
  ec = out.ec;
  return out.conn;
}

// --- services --------------------------------------------------------------------

void engine_core::add_service(std::function<void()> start, std::function<void()> stop) {
  post_unless_closing([this, start = std::move(start), stop = std::move(stop)]() mutable {
    if (closing_) return;
    start();
    service_stops_.push_back(std::move(stop));
  });
}

// --- the memory budget ---------------------------------------------------------

void engine_core::budget_spent() {
  if (budget_check_queued_.exchange(true)) return;
  // Posted even from the I/O thread: the store that called is in the middle
  // of a read, and what follows may close other connections.
  if (!post_unless_closing([this] {
        budget_check_queued_ = false;
        enforce_budget(0, nullptr);
      }))
    budget_check_queued_ = false;
}

bool engine_core::make_room(std::size_t wanted, const connection& asking) {
  return enforce_budget(wanted, &asking);
}

bool engine_core::enforce_budget(std::size_t wanted, const connection* asking) {
  auto& budget = *protocols_->settings().budget;
  auto room = [&] {
    return budget.limit() == 0 ||
           (wanted <= budget.limit() && budget.used() <= budget.limit() - wanted);
  };
  if (room()) return true;
  if (closing_ || wanted > budget.limit()) return false; // nothing to drop helps
  auto spent = [&] {
    return "the engine held " + std::to_string(budget.used()) + " bytes of what it received" +
           (wanted > 0 ? " and needs " + std::to_string(wanted) + " more" : std::string()) +
           ", past its budget of " + std::to_string(budget.limit()) +
           " (limits.max_receive_bytes)";
  };
  auto cs = connections();
  // What closed connections kept goes first, oldest first: it is the
  // stalest, and nobody is sending it any more.
  for (auto& c : cs) {
    if (room()) return true;
    if (!closed(*c) || held_bytes(*c) == 0) continue;
    auto why = spent();
    auto freed = drop_held(*c);
    callbacks_->error(c, errc::over_budget,
                      "dropped the " + std::to_string(freed) +
                          " bytes of values kept from this closed connection: " + why);
  }
  // Then the open connection that keeps the most is closed (its values
  // dropped with it), and the next, until there is room; but only one
  // that keeps more than the reader asking would hold: a reader that
  // would hold the most closes itself (see connection::read).
  const std::size_t asks = asking ? held_bytes(*asking) + wanted : 0;
  while (!room()) {
    std::shared_ptr<connection> largest;
    std::size_t most = asks;
    for (auto& c : cs)
      if (c.get() != asking && !closed(*c) && held_bytes(*c) > most) {
        most = held_bytes(*c);
        largest = c;
      }
    // What is left is messages in progress, which their readers bound.
    if (!largest) return false;
    callbacks_->error(largest, errc::over_budget,
                      "closing the connection that keeps the most (" + std::to_string(most) +
                          " bytes of values and images): " + spent());
    drop_held(*largest); // first: gone once the connection reads closed
    finish_close(largest, errc::over_budget);
  }
  return true;
}

// --- redialling ----------------------------------------------------------------

// Where a connection dials again, and how far its backoff has grown. Lives
// in redialers_ from the first dial until the connection closes; the
// handlers of its timer and attempts hold it too.
struct engine_core::redialer {
  redialer(asio::io_context& io, const std::shared_ptr<connection>& c, std::string a,
           std::uint16_t p)
      : conn(c), address(std::move(a)), port(p), timer(io) {}
  std::weak_ptr<connection> conn;
  const std::string address;
  const std::uint16_t port;
  unsigned attempt = 0; // attempts since the link was last up
  asio::steady_timer timer;
  std::weak_ptr<transport::dial_attempt> dialing;
};

void engine_core::link_down(const std::shared_ptr<connection>& c, std::error_code reason) {
  auto it = redialers_.find(c.get());
  if (it == redialers_.end() || closing_) return; // the engine's close ends it
  const auto& r = it->second;
  // A peer that closed in good order (a hub restarting) is no error: the
  // link-down handlers and state() tell of it. Anything else is reported.
  if (reason != errc::peer_closing && reason != errc::peer_eof)
    callbacks_->error(c, reason,
                      "the link to " + r->address +
                          (r->port != 0 ? " port " + std::to_string(r->port) : std::string()) +
                          " is lost; redialling");
  callbacks_->lifecycle(c, callbacks::event::link_down);
  notify_waiters();
  schedule_redial(r);
}

void engine_core::link_up(const std::shared_ptr<connection>& c) {
  if (auto it = redialers_.find(c.get()); it != redialers_.end()) it->second->attempt = 0;
  callbacks_->lifecycle(c, callbacks::event::link_up);
  notify_waiters();
}

void engine_core::schedule_redial(const std::shared_ptr<redialer>& r) {
  const auto& o = cfg_.reconnect;
  r->timer.expires_after(backoff_delay(r->attempt, o.min_backoff, o.max_backoff, jitter_));
  if (r->attempt < 64) ++r->attempt; // the cap stops growing long before
  r->timer.async_wait([this, r](std::error_code ec) {
    if (!ec && !closing_) redial(r);
  });
}

void engine_core::redial(const std::shared_ptr<redialer>& r) {
  auto c = r->conn.lock();
  if (!c || closed(*c)) return;
  // A new dialer each time: a host name is resolved again (the peer may
  // have come back at another address).
  std::error_code ec;
  auto d = transport::transport_for(r->address).dial(io_, {r->address, r->port, cfg_.tls}, ec);
  if (!d) return schedule_redial(r);
  auto deadline = cfg_.connect_timeout.count() > 0 ? deadline_after(cfg_.connect_timeout)
                                                   : steady_clock::time_point::max();
  std::erase_if(dials_, [](auto& w) { return w.expired(); });
  auto attempt = transport::dial_attempt::start(
      io_, std::move(d), deadline, /*retry=*/false,
      [this, r](std::error_code done_ec, std::unique_ptr<transport::stream> s) {
        if (closing_) return; // the stream, if any, closes as it goes
        auto c = r->conn.lock();
        if (!c || closed(*c)) return;
        if (done_ec) {
          // A peer that refuses the link (its certificate, or ours) may be
          // mended while this goes on trying; the user hears why meanwhile.
          if (done_ec.category() == tls_category())
            callbacks_->error(c, done_ec, "redialling " + r->address + " port " +
                                              std::to_string(r->port) +
                                              ": the TLS handshake failed");
          return schedule_redial(r);
        }
        s->keep_alive(cfg_.keepalive);
        reattach(c, std::move(s));
      });
  r->dialing = attempt;
  dials_.push_back(attempt);
}

// --- connections -----------------------------------------------------------

void engine_core::add_connection(const std::shared_ptr<connection>& c) {
  list_connection(c);
  detail::start(c);
}

void engine_core::list_connection(const std::shared_ptr<connection>& c) {
  {
    std::lock_guard lk(list_mu_);
    list_.push_back(c);
    ++open_count_;
  }
  notify_waiters();
  callbacks_->lifecycle(c, callbacks::event::connected);
}

void engine_core::start_unlisted(const std::shared_ptr<connection>& c,
                                 std::shared_ptr<dial_result> dial, std::string address,
                                 std::uint16_t port) {
  unlisted_.push_back({c, std::move(dial), std::move(address), port});
  detail::start(c);
}

void engine_core::authenticated(const std::shared_ptr<connection>& c) {
  auto it = std::find_if(unlisted_.begin(), unlisted_.end(),
                         [&](const unlisted& u) { return u.conn == c; });
  if (it == unlisted_.end()) return link_up(c); // a link of a redialled one
  auto u = std::move(*it);
  unlisted_.erase(it);
  if (u.dial && cfg_.reconnect.enabled)
    redialers_.emplace(c.get(), std::make_shared<redialer>(io_, c, u.address, u.port));
  list_connection(c);
  if (u.dial) u.dial->answer({}, c);
}

void engine_core::connection_closed(const std::shared_ptr<connection>& c) {
  if (auto it = std::find_if(unlisted_.begin(), unlisted_.end(),
                             [&](const unlisted& u) { return u.conn == c; });
      it != unlisted_.end()) {
    // Never listed, so never announced: the dial, if any, hears why.
    auto dial = std::move(it->dial);
    unlisted_.erase(it);
    if (dial) dial->answer(c->close_reason(), nullptr);
    return;
  }
  {
    std::lock_guard lk(list_mu_);
    --open_count_;
    // Forget the oldest closed connections past the limit, so a hub that
    // sees peers come and go does not grow forever.
    std::size_t closed = list_.size() - open_count_; // only closed ones are ever removed
    for (auto it = list_.begin();
         closed > cfg_.protocols.limits.max_closed_connections && it != list_.end();) {
      if (detail::closed(**it)) {
        it = list_.erase(it);
        --closed;
      } else {
        ++it;
      }
    }
  }
  if (auto it = redialers_.find(c.get()); it != redialers_.end()) {
    it->second->timer.cancel();
    redialers_.erase(it);
  }
  notify_waiters();
  callbacks_->lifecycle(c, callbacks::event::disconnected);
}

std::vector<std::shared_ptr<connection>> engine_core::connections() const {
  std::lock_guard lk(list_mu_);
  return list_;
}

std::vector<value> engine_core::collect(const connection_filter& keep,
                                       std::string_view channel) const {
  auto cs = connections();
  // A peer that comes back under its name (a new connection, when the peer
  // redialled) takes the place of its closed predecessors, which answer no
  // more: walking from the newest, a closed connection whose name a newer
  // one bears is skipped. Open ones all answer, as two live peers may
  // share a name.
  std::vector<bool> skip(cs.size(), false);
  std::unordered_set<std::string> newer;
  for (std::size_t i = cs.size(); i-- > 0;) {
    auto name = cs[i]->name();
    if (name.empty()) continue;
    skip[i] = closed(*cs[i]) && newer.contains(name);
    newer.insert(std::move(name));
  }
  std::vector<value> out;
  for (std::size_t i = 0; i < cs.size(); ++i)
    if (!skip[i] && keep(*cs[i]))
      if (auto v = cs[i]->get(channel)) out.push_back(std::move(*v));
  return out;
}

std::vector<value> engine_core::wait_for_any(std::string_view channel,
                                             milliseconds timeout) const {
  // The predicate only looks for a value (it runs on every message, under
  // the wait lock); the values are copied once, at the end.
  wait_for_channel(deadline_after(timeout), channel, [&] {
    auto cs = connections();
    return std::any_of(cs.begin(), cs.end(), [&](auto& c) { return c->version(channel) != 0; });
  });
  return collect([](const connection&) { return true; }, channel);
}

std::size_t engine_core::write_each(const connection_filter& keep, std::string_view channel,
                                    const value& v) {
  protocol::encoded_message message(channel, v);
  std::size_t n = 0;
  for (auto& c : connections()) {
    if (!c->is_open() || !keep(*c)) continue;
    std::error_code ec;
    detail::write(*c, message, ec);
    if (!ec) ++n;
  }
  return n;
}

std::size_t engine_core::write_image_each(const connection_filter& keep, const image& img,
                                          bool share_pixels) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  auto targets = connections();
  std::erase_if(targets, [&](const auto& c) { return !c->is_open() || !keep(*c); });
  if (targets.empty()) return 0;
  const auto& options = cfg_.protocols.images;
  // Connections that would drop the frame anyway do not make it worth
  // encoding; the others share one encoding per protocol in use.
  if (!options.latest_frame_wins &&
      std::none_of(targets.begin(), targets.end(),
                   [](const auto& c) { return c->can_write_image(); }))
    return 0;
  protocol::encoded_image encoded(img, options.encoding, options, share_pixels);
  std::size_t n = 0;
  for (auto& c : targets) {
    std::error_code ec;
    auto status = detail::write_image(*c, encoded, ec);
    if (!ec && status != image_status::dropped) ++n;
  }
  return n;
}

// --- events and handlers ---------------------------------------------------------

void engine_core::message_arrived(const std::shared_ptr<connection>& c, std::string_view channel,
                                  value v, std::size_t bytes) {
  callbacks_->message(c, std::string(channel), std::move(v), bytes);
}

void engine_core::image_arrived(const std::shared_ptr<connection>& c, image img) {
  callbacks_->image(c, std::move(img));
}

void engine_core::report(const std::shared_ptr<connection>& c, std::error_code ec,
                         std::string detail) {
  callbacks_->error(c, ec, std::move(detail));
}

void engine_core::add_handler(std::string_view channel, message_handler h) {
  callbacks_->add_handler(channel, std::move(h));
  wants_messages_.store(true, std::memory_order_release);
}

void engine_core::add_any_handler(any_message_handler h) {
  callbacks_->add_any_handler(std::move(h));
  wants_messages_.store(true, std::memory_order_release);
}

void engine_core::add_image_handler(image_handler h) {
  callbacks_->add_image_handler(std::move(h));
  wants_images_.store(true, std::memory_order_release);
}

void engine_core::add_lifecycle_handler(callbacks::event e, connection_handler h) {
  callbacks_->add_lifecycle_handler(e, std::move(h));
}

void engine_core::set_error_handler(error_handler h) {
  callbacks_->set_error_handler(std::move(h));
}

// --- waits -------------------------------------------------------------------

bool engine_core::wait_until(steady_clock::time_point deadline,
                             const std::function<bool()>& pred) const {
  std::unique_lock lk(wait_mu_);
  wait_cv_.wait_until(lk, deadline, [&] { return closing_.load() || pred(); });
  return pred();
}

bool engine_core::wait_for_channel(steady_clock::time_point deadline, std::string_view channel,
                                   const std::function<bool()>& pred) const {
  std::unique_lock lk(wait_mu_);
  auto registered = waited_channels_.add(channel);
  wait_cv_.wait_until(lk, deadline, [&] { return closing_.load() || pred(); });
  return pred();
}

void engine_core::notify_waiters() {
  // Taking the lock orders this wake-up after a waiter's check of its
  // predicate, so the wake-up cannot be lost.
  { std::lock_guard lk(wait_mu_); }
  wait_cv_.notify_all();
}

void engine_core::value_stored(std::string_view channel) {
  if (!waited_channels_.maybe_any()) return;
  {
    std::lock_guard lk(wait_mu_);
    if (!waited_channels_.contains(channel)) return;
  }
  wait_cv_.notify_all();
}

// --- shutdown ------------------------------------------------------------------

void engine_core::close() {
  {
    std::lock_guard lk(close_mu_);
    // Not joinable only if start() failed part way; then there is no I/O to stop.
    if (!closed_ && !io_thread_.joinable()) closed_ = true;
    if (!closed_) {
      {
        std::lock_guard pl(post_mu_);
        closing_ = true;
      }
      notify_waiters();
      // Posted directly: post_unless_closing refuses from now on.
      asio::post(io_, [this] {
        for (auto& l : listeners_) l->close();
        for (auto& stop : service_stops_) stop();
        service_stops_.clear();
        if (sweep_) sweep_->cancel();
        for (auto& [c, r] : redialers_) r->timer.cancel();
        for (auto& w : dials_)
          if (auto d = w.lock()) d->fail(errc::engine_closed);
        dials_.clear();
        auto authenticating = unlisted_;
        for (auto& u : authenticating) finish_close(u.conn, errc::closed_locally);
        for (auto& c : connections()) begin_close(c, errc::closed_locally);
      });
      // Each connection flushes for at most the timeout on its own; wait for
      // that, then close whatever is still open.
      {
        std::unique_lock wl(wait_mu_);
        wait_cv_.wait_until(wl, deadline_after(saturating_add(timeout(), milliseconds(200))), [&] {
          std::lock_guard ll(list_mu_);
          return open_count_ == 0;
        });
      }
      asio::post(io_, [this] {
        for (auto& c : connections()) finish_close(c, errc::closed_locally);
      });
      // The work thread first, while the I/O thread still runs: what it has
      // queued runs to its end, and a connection whose peer closed while its
      // images were decoding ends once they are, posting that end to the
      // I/O thread. Nothing posts work any more (closing_).
      worker_->stop();
      work_.reset();
      io_thread_.join();
      closed_ = true;
    }
  }
  // Outside close_mu_: a callback may be calling close() right now, and the
  // callback thread can only finish once that callback returns. Every
  // caller but the callback thread itself waits for it here.
  if (callbacks_) callbacks_->stop();
}

} // namespace socketengine::detail
