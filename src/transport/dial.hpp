#pragma once
// Reaching a peer that may not be up yet: attempts through a transport's
// dialer, repeated while they are worth repeating, until a deadline. The
// same for every transport.

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <system_error>

#include "transport/dialer.hpp"

namespace socketengine::detail::transport {

class dial_attempt : public std::enable_shared_from_this<dial_attempt> {
public:
  using done_fn = dialer::done_fn;

  /// Starts dialling with `d` on the I/O thread that runs `io` (call it
  /// there). Retries what d->worth_retrying() accepts, backing off from
  /// 10 ms to 500 ms, unless `retry` is false; gives up with
  /// errc::connect_timeout at `deadline` (time_point::max(): never).
  /// `done` runs once, on the I/O thread, when the attempt ends. The attempt
  /// and its dialer keep each other alive until then, so the caller must
  /// end every attempt (fail()) before its io_context stops running: one
  /// whose handlers were dropped unrun would stay in memory, unanswered.
  static std::shared_ptr<dial_attempt> start(asio::io_context& io, std::unique_ptr<dialer> d,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool retry, done_fn done);

  /// Ends the attempt with `ec` unless it has ended. I/O thread.
  void fail(std::error_code ec);

  dial_attempt(asio::io_context& io, std::unique_ptr<dialer> d, bool retry, done_fn done);

private:
  void attempt();
  void finish(std::error_code ec, std::unique_ptr<stream> s);

  std::unique_ptr<dialer> dialer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer deadline_;
  std::chrono::milliseconds backoff_{10};
  bool retry_;
  bool done_ = false;
  done_fn on_done_;
};

} // namespace socketengine::detail::transport
