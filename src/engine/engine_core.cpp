#include "engine/engine_core.hpp"

#include <algorithm>
#include <cstdio>
#include <future>
#include <stdexcept>

#include <fcntl.h>

#include <socketengine/error.hpp>

#include "net/connection_impl.hpp"
#include "wire/legacy_codec.hpp"
#include "wire/native_codec.hpp"

namespace socketengine::detail {

using asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

void set_cloexec(int fd) noexcept {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

std::error_code portable(std::error_code ec) {
  if (ec.category() == asio::error::get_system_category())
    return {ec.value(), std::system_category()};
  return ec;
}

milliseconds saturating_add(milliseconds a, milliseconds b) {
  return a > milliseconds::max() - b ? milliseconds::max() : a + b;
}

steady_clock::time_point deadline_after(milliseconds d) {
  auto now = steady_clock::now();
  if (d.count() <= 0) return now;
  if (d >= std::chrono::duration_cast<milliseconds>(steady_clock::time_point::max() - now))
    return steady_clock::time_point::max();
  return now + d;
}

// One attempt to dial a peer: resolve, connect, retry while refused, give
// up at the deadline. Lives on the I/O thread; the caller waits on `result`.
struct engine_core::dial_op : std::enable_shared_from_this<dial_op> {
  struct outcome {
    std::error_code ec;
    std::shared_ptr<connection> conn;
  };

  dial_op(engine_core& core, std::string name, std::string host, std::uint16_t port,
          steady_clock::time_point deadline)
      : core(core), resolver(core.io()), socket(core.io()), retry(core.io()),
        timeout(core.io()), name(std::move(name)), host(std::move(host)), port(port),
        deadline(deadline) {}

  ~dial_op() {
    if (!done) result.set_value({errc::engine_closed, nullptr});
  }

  void start() {
    if (deadline != steady_clock::time_point::max()) {
      timeout.expires_at(deadline);
      timeout.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->fail(errc::connect_timeout);
      });
    }
    // A numeric address needs no resolver: that keeps the common case off
    // getaddrinfo, which close() could not interrupt.
    std::error_code numeric_ec;
    auto addr = asio::ip::make_address(host, numeric_ec);
    if (!numeric_ec) {
      endpoints = tcp::resolver::results_type::create(tcp::endpoint(addr, port), host,
                                                      std::to_string(port));
      attempt();
      return;
    }
    resolver.async_resolve(host, std::to_string(port),
                           [self = shared_from_this()](std::error_code ec,
                                                       tcp::resolver::results_type results) {
                             if (self->done) return;
                             if (ec) return self->fail(portable(ec));
                             self->endpoints = std::move(results);
                             self->attempt();
                           });
  }

  void attempt() {
    asio::async_connect(socket, endpoints,
                        [self = shared_from_this()](std::error_code ec, const tcp::endpoint&) {
                          if (self->done) return;
                          if (!ec) return self->succeed();
                          if (ec != asio::error::connection_refused || self->single_attempt)
                            return self->fail(portable(ec));
                          // The seed retried forever at full speed; back off
                          // a little instead, capped so a peer that comes up
                          // is found within half a second.
                          self->retry.expires_after(self->backoff);
                          self->backoff = std::min(self->backoff * 2, milliseconds(500));
                          self->retry.async_wait([self](std::error_code wait_ec) {
                            if (!wait_ec && !self->done) self->attempt();
                          });
                        });
  }

  void succeed() {
    done = true;
    timeout.cancel();
    std::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    set_cloexec(socket.native_handle());
    auto c = core.make_connection(std::move(socket), connection_kind::local, name, host, port);
    std::string line;
    if (core.config().hub_protocol) append_line(line, channels::name_conn, name);
    c->impl_->queue_greeting(line);
    core.register_connection(c);
    connection::impl::start(c);
    result.set_value({{}, c});
  }

  void fail(std::error_code ec) {
    if (done) return;
    done = true;
    std::error_code ignored;
    resolver.cancel();
    socket.close(ignored);
    retry.cancel();
    timeout.cancel();
    result.set_value({ec, nullptr});
  }

  engine_core& core;
  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer retry;
  asio::steady_timer timeout;
  std::string name;
  std::string host;
  std::uint16_t port;
  steady_clock::time_point deadline;
  milliseconds backoff{10};
  bool single_attempt = false; // connect_timeout <= 0: no retries
  tcp::resolver::results_type endpoints;
  std::promise<outcome> result;
  bool done = false;
};

engine_core::engine_core(engine_config cfg)
    : cfg_(std::move(cfg)), timeout_ms_(cfg_.timeout.count()) {}

engine_core::~engine_core() { close(); }

void engine_core::start() {
  std::weak_ptr<engine_core> weak = weak_from_this();
  dispatcher_ = std::make_unique<dispatcher>(
      cfg_.lim.max_pending_callbacks, cfg_.lim.max_pending_callback_bytes, [weak](std::size_t n) {
        if (auto self = weak.lock())
          self->report(nullptr, errc::callback_queue_overflow,
                       std::to_string(n) + " events dropped: callbacks are too slow");
      });
  work_.emplace(io_.get_executor());
  io_thread_ = std::thread([this] {
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
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](std::error_code ec) {
    if (ec || closing_) return;
    for (auto& c : connections()) c->impl_->release_idle_buffer();
    arm_sweep();
  });
}

bool engine_core::post_unless_closing(std::function<void()> fn) {
  std::lock_guard lk(post_mu_);
  if (closing_) return false;
  asio::post(io_, std::move(fn));
  return true;
}

void engine_core::run_on_io(const std::function<void()>& fn) {
  if (running_on_io_thread()) {
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

void engine_core::listen(const std::string& address, std::optional<std::uint16_t> port,
                         std::uint16_t first, std::uint16_t last) {
  // The error is thrown here, on the caller's thread, not inside run_on_io:
  // an exception made on the I/O thread and handed over would be freed by
  // whichever thread lets go last, through reference counts that
  // ThreadSanitizer cannot see in the uninstrumented C++ runtime.
  std::error_code ec;
  std::string what;
  run_on_io([&] {
    auto addr = asio::ip::make_address(address, ec);
    if (ec) {
      what = "bad address \"" + address + "\"";
      return;
    }
    std::uint16_t lo = port ? *port : first;
    std::uint16_t hi = port ? *port : last;
    for (std::uint32_t p = lo; p <= hi; ++p) {
      tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
      std::error_code ignored;
      acceptor_.close(ignored);
      acceptor_.open(ep.protocol(), ec);
      if (!ec) set_cloexec(acceptor_.native_handle());
      if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor_.bind(ep, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
      if (!ec) {
        listen_port_ = acceptor_.local_endpoint().port();
        return;
      }
    }
    std::error_code ignored;
    acceptor_.close(ignored);
    ec = portable(ec);
    what = port ? "cannot listen on " + address + " port " + std::to_string(*port)
                : "no free port in " + std::to_string(first) + ".." + std::to_string(last) +
                      " on " + address;
  });
  if (ec) throw std::system_error(ec, "socketengine: " + cfg_.label + ": " + what);
}

void engine_core::start_accepting() {
  post_unless_closing([this] {
    if (accepting_ || closing_ || !acceptor_.is_open()) return;
    accepting_ = true;
    do_accept();
  });
}

void engine_core::do_accept() {
  acceptor_.async_accept([this](std::error_code ec, tcp::socket s) {
    if (closing_ || !acceptor_.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of descriptors, say: report and try again shortly rather than
      // spin on an error that will not clear at once.
      post_error(nullptr, ec, "accept failed");
      accept_retry_.emplace(io_, milliseconds(100));
      accept_retry_->async_wait([this](std::error_code wait_ec) {
        if (!wait_ec && !closing_) do_accept();
      });
      return;
    }
    std::error_code peer_ec;
    auto peer = s.remote_endpoint(peer_ec);
    if (!peer_ec) {
      set_cloexec(s.native_handle());
      s.set_option(tcp::no_delay(true), peer_ec);
      auto c = make_connection(std::move(s), connection_kind::remote, {}, peer.address().to_string(),
                               peer.port());
      c->impl_->queue_greeting({});
      register_connection(c);
      connection::impl::start(c);
    }
    do_accept();
  });
}

// --- dialling ----------------------------------------------------------------

std::shared_ptr<connection> engine_core::dial(std::string_view name, std::string_view address,
                                              std::uint16_t port, std::error_code& ec,
                                              const std::function<bool()>& keep_waiting) {
  bool once = cfg_.connect_timeout.count() <= 0;
  auto op = std::make_shared<dial_op>(*this, std::string(name), std::string(address), port,
                                      once ? steady_clock::time_point::max()
                                           : deadline_after(cfg_.connect_timeout));
  op->single_attempt = once;
  auto result = op->result.get_future();
  std::weak_ptr<dial_op> handle = op;
  bool posted = post_unless_closing([this, op = std::move(op)] {
    if (closing_) return; // op's destructor reports engine_closed
    dials_.erase(std::remove_if(dials_.begin(), dials_.end(), [](auto& w) { return w.expired(); }),
                 dials_.end());
    dials_.push_back(op);
    op->start();
  });
  if (!posted) {
    ec = errc::engine_closed;
    return nullptr;
  }
  if (keep_waiting) {
    while (result.wait_for(dial_poll) != std::future_status::ready) {
      if (keep_waiting()) continue;
      // Abandoned: the attempt ends on the I/O thread. If the engine is
      // closing instead, close() ends it, and the result comes either way.
      post_unless_closing([handle] {
        if (auto op = handle.lock()) op->fail(std::make_error_code(std::errc::operation_canceled));
      });
      break;
    }
  }
  auto out = result.get();
  ec = out.ec;
  return out.conn;
}

// --- connections -----------------------------------------------------------

std::shared_ptr<connection> engine_core::make_connection(tcp::socket s, connection_kind kind,
                                                         std::string name, std::string address,
                                                         std::uint16_t port) {
  return std::shared_ptr<connection>(new connection(std::make_unique<connection::impl>(
      shared_from_this(), std::move(s), kind, std::move(name), std::move(address), port)));
}

void engine_core::register_connection(const std::shared_ptr<connection>& c) {
  {
    std::lock_guard lk(list_mu_);
    list_.push_back(c);
    ++open_count_;
  }
  notify_waiters();
  post_lifecycle(c, true);
}

void engine_core::on_connection_closed(const std::shared_ptr<connection>& c) {
  {
    std::lock_guard lk(list_mu_);
    --open_count_;
    // Forget the oldest closed connections past the limit, so a hub that
    // sees peers come and go does not grow forever.
    std::size_t closed = list_.size() - open_count_; // only closed ones are ever removed
    for (auto it = list_.begin(); closed > cfg_.lim.max_closed_connections && it != list_.end();) {
      if ((*it)->impl_->closed() && *it != c) {
        it = list_.erase(it);
        --closed;
      } else {
        ++it;
      }
    }
  }
  notify_waiters();
  post_lifecycle(c, false);
}

namespace {
// Runs one user callback, turning an exception into a report.
template <class F, class Report>
void guarded(F&& call, Report&& report, const std::string& what) {
  try {
    call();
  } catch (const std::exception& e) {
    report(what + ": " + e.what());
  } catch (...) {
    report(what + " threw");
  }
}
} // namespace

void engine_core::post_lifecycle(const std::shared_ptr<connection>& c, bool connected) {
  {
    std::lock_guard lk(handlers_mu_);
    if ((connected ? connect_handlers_ : disconnect_handlers_).empty()) return;
  }
  dispatcher_->post(
      [weak = weak_from_this(), c, connected] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const connection_handler>> hs;
        {
          std::lock_guard lk(self->handlers_mu_);
          hs = connected ? self->connect_handlers_ : self->disconnect_handlers_;
        }
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        for (auto& h : hs)
          guarded([&] { (*h)(c); }, report, connected ? "connect handler" : "disconnect handler");
      },
      0, /*lifecycle=*/true);
}

std::vector<std::shared_ptr<connection>> engine_core::connections() const {
  std::lock_guard lk(list_mu_);
  return list_;
}

std::vector<value> engine_core::collect(const connection_filter& keep,
                                       std::string_view channel) const {
  std::vector<value> out;
  for (auto& c : connections())
    if (keep(*c))
      if (auto v = c->get(channel)) out.push_back(std::move(*v));
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
  // Encoded once per protocol in use, on first need.
  std::string forms[2];
  bool made[2] = {false, false};
  std::size_t n = 0;
  for (auto& c : connections()) {
    if (!c->is_open() || !keep(*c)) continue;
    auto& impl = *c->impl_;
    std::error_code ec;
    bool native = impl.sends_native();
    for (;;) {
      auto& bytes = forms[native];
      if (!made[native]) {
        if (native)
          native::append_value(bytes, channel, v);
        else
          impl.append_legacy(bytes, channel, v);
        made[native] = true;
      }
      if (impl.enqueue(c, bytes, native, ec)) break;
      native = !native; // it switched meanwhile
    }
    if (!ec) ++n;
  }
  return n;
}

std::string_view engine_core::image_channel() const noexcept {
  return cfg_.hub_protocol ? channels::image : channels::plain_image;
}

std::size_t engine_core::write_image_each(const connection_filter& keep, const image& img) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  auto targets = connections();
  std::erase_if(targets, [&](const auto& c) { return !c->is_open() || !keep(*c); });
  if (targets.empty()) return 0;
  // Connections that would drop the frame anyway do not make it worth
  // encoding; the others share one encoding per protocol in use.
  if (!cfg_.images.latest_frame_wins &&
      std::none_of(targets.begin(), targets.end(),
                   [](const auto& c) { return c->can_write_image(); }))
    return 0;
  image_forms forms(img, image_channel(), cfg_.images, cfg_.images.encoding);
  std::size_t n = 0;
  for (auto& c : targets) {
    std::error_code ec;
    auto status = c->impl_->send_image(c, forms, ec);
    if (!ec && status != image_status::dropped) ++n;
  }
  return n;
}

// --- handlers ------------------------------------------------------------------

void engine_core::add_handler(std::string_view channel, message_handler h) {
  std::lock_guard lk(handlers_mu_);
  handlers_[std::string(channel)].push_back(std::make_shared<const message_handler>(std::move(h)));
  has_message_handlers_.store(true, std::memory_order_release);
}

void engine_core::add_any_handler(any_message_handler h) {
  std::lock_guard lk(handlers_mu_);
  any_handlers_.push_back(std::make_shared<const any_message_handler>(std::move(h)));
  has_message_handlers_.store(true, std::memory_order_release);
}

void engine_core::add_image_handler(image_handler h) {
  std::lock_guard lk(handlers_mu_);
  image_handlers_.push_back(std::make_shared<const image_handler>(std::move(h)));
  has_image_handlers_.store(true, std::memory_order_release);
}

void engine_core::add_connect_handler(connection_handler h) {
  std::lock_guard lk(handlers_mu_);
  connect_handlers_.push_back(std::make_shared<const connection_handler>(std::move(h)));
}

void engine_core::add_disconnect_handler(connection_handler h) {
  std::lock_guard lk(handlers_mu_);
  disconnect_handlers_.push_back(std::make_shared<const connection_handler>(std::move(h)));
}

void engine_core::set_error_handler(error_handler h) {
  std::lock_guard lk(handlers_mu_);
  error_handler_ = h ? std::make_shared<const error_handler>(std::move(h)) : nullptr;
}

void engine_core::post_message(const std::shared_ptr<connection>& c, const std::string& channel,
                               value v, std::size_t bytes) {
  dispatcher_->post(
      [weak = weak_from_this(), c, channel, v = std::move(v)] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const message_handler>> hs;
        std::vector<std::shared_ptr<const any_message_handler>> any;
        {
          std::lock_guard lk(self->handlers_mu_);
          if (auto it = self->handlers_.find(channel); it != self->handlers_.end()) hs = it->second;
          any = self->any_handlers_;
        }
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        std::string what = "handler for \"" + channel + "\"";
        for (auto& h : hs) guarded([&] { (*h)(c, v); }, report, what);
        for (auto& h : any) guarded([&] { (*h)(c, channel, v); }, report, what);
      },
      bytes);
}

void engine_core::post_image(const std::shared_ptr<connection>& c, image img) {
  std::size_t bytes = img.size_bytes();
  dispatcher_->post(
      [weak = weak_from_this(), c, img = std::move(img)] {
        auto self = weak.lock();
        if (!self) return;
        std::vector<std::shared_ptr<const image_handler>> hs;
        {
          std::lock_guard lk(self->handlers_mu_);
          hs = self->image_handlers_;
        }
        auto report = [&](const std::string& d) { self->report(c, errc::handler_threw, d); };
        for (auto& h : hs) guarded([&] { (*h)(c, img); }, report, "image handler");
      },
      bytes);
}

void engine_core::post_error(const std::shared_ptr<connection>& c, std::error_code ec,
                             std::string detail) {
  dispatcher_->post([weak = weak_from_this(), c, ec, detail = std::move(detail)] {
    if (auto self = weak.lock()) self->report(c, ec, detail);
  });
}

void engine_core::report(const std::shared_ptr<connection>& c, std::error_code ec,
                         const std::string& detail) {
  std::shared_ptr<const error_handler> h;
  {
    std::lock_guard lk(handlers_mu_);
    h = error_handler_;
  }
  if (h) {
    try {
      (*h)(c, ec, detail);
      return;
    } catch (...) {
      // An error handler that throws has nowhere left to report to; fall
      // through to stderr rather than lose the report.
    }
  }
  std::string who = c ? " " + c->address() + ":" + std::to_string(c->port()) : "";
  if (c && !c->name().empty()) who += " \"" + c->name() + "\"";
  std::fprintf(stderr, "socketengine: %s%s: %s (%s)\n", cfg_.label.c_str(), who.c_str(),
               ec.message().c_str(), detail.c_str());
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

void engine_core::notify_channel_waiters(std::string_view channel) {
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
        std::error_code ignored;
        acceptor_.close(ignored);
        if (accept_retry_) accept_retry_->cancel();
        if (sweep_) sweep_->cancel();
        for (auto& w : dials_)
          if (auto d = w.lock()) d->fail(errc::engine_closed);
        dials_.clear();
        for (auto& c : connections()) connection::impl::begin_close(c, errc::closed_locally, true);
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
        for (auto& c : connections()) connection::impl::finish_close(c, errc::closed_locally);
      });
      work_.reset();
      io_thread_.join();
      closed_ = true;
    }
  }
  // Outside close_mu_: a callback may be calling close() right now, and the
  // callback thread can only finish once that callback returns. Every
  // caller but the callback thread itself waits for it here.
  if (dispatcher_) dispatcher_->stop();
}

} // namespace socketengine::detail
