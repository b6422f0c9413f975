#include "transport/dial.hpp"

#include <algorithm>

#include <socketengine/error.hpp>

namespace socketengine::detail::transport {

dial_attempt::dial_attempt(asio::io_context& io, std::unique_ptr<dialer> d, bool retry,
                           done_fn done)
    : dialer_(std::move(d)), retry_timer_(io), deadline_(io), retry_(retry),
      on_done_(std::move(done)) {}

std::shared_ptr<dial_attempt> dial_attempt::start(asio::io_context& io, std::unique_ptr<dialer> d,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  bool retry, done_fn done) {
  auto self = std::make_shared<dial_attempt>(io, std::move(d), retry, std::move(done));
  if (deadline != std::chrono::steady_clock::time_point::max()) {
    self->deadline_.expires_at(deadline);
    self->deadline_.async_wait([self](std::error_code ec) {
      if (!ec) self->fail(errc::connect_timeout);
    });
  }
  self->attempt();
  return self;
}

void dial_attempt::attempt() {
  dialer_->async_connect([self = shared_from_this()](std::error_code ec, std::unique_ptr<stream> s) {
    if (self->done_) return;
    if (!ec) return self->finish({}, std::move(s));
    if (!self->retry_ || !self->dialer_->worth_retrying(ec)) return self->finish(ec, nullptr);
    // The seed retried forever at full speed; back off a little instead,
    // capped so that a peer that comes up is found within half a second.
    self->retry_timer_.expires_after(self->backoff_);
    self->backoff_ = std::min(self->backoff_ * 2, std::chrono::milliseconds(500));
    self->retry_timer_.async_wait([self](std::error_code wait_ec) {
      if (!wait_ec && !self->done_) self->attempt();
    });
  });
}

void dial_attempt::fail(std::error_code ec) {
  if (done_) return;
  dialer_->cancel();
  finish(ec, nullptr);
}

void dial_attempt::finish(std::error_code ec, std::unique_ptr<stream> s) {
  done_ = true;
  retry_timer_.cancel();
  deadline_.cancel();
  // Moved out first: the callback may drop the last reference to this.
  auto done = std::move(on_done_);
  done(ec, std::move(s));
}

} // namespace socketengine::detail::transport
