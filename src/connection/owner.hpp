#pragma once
// What a connection may ask of the engine that owns it, and all it may:
// a connection knows its owner through this interface alone (as Asio's chat
// room knows its sessions through `deliver`), so the engine uses
// connections and never the other way round.
//
// Threading and locks: the connection calls every member without holding
// any lock of its own, except io(), on_io_thread() and timeout(), which it
// may call under its write lock (to post a write, and to decide whether and
// how long a writer may wait). The event members (message_arrived and the
// rest) are called on the I/O thread and must not run user code there: the
// engine queues them for its callback thread.

#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine {
class connection;
}

namespace socketengine::detail {

class connection_owner {
public:
  // --- any thread ----------------------------------------------------------
  /// The context the owner's I/O thread runs: connections post to it and
  /// set their timers on it. Valid while any connection is open.
  [[nodiscard]] virtual asio::io_context& io() noexcept = 0;
  [[nodiscard]] virtual bool on_io_thread() const noexcept = 0;
  /// The engine's timeout: how long a close may flush, a write may wait.
  [[nodiscard]] virtual std::chrono::milliseconds timeout() const noexcept = 0;
  /// Posts `fn` to the I/O thread unless the owner is closing (whose own
  /// close then ends every connection); returns whether it was posted.
  virtual bool post_unless_closing(std::function<void()> fn) = 0;
  /// Runs `fn` on the I/O thread once everything ready now has run, one
  /// such function at a time: a connection that has read its fill for one
  /// turn (a peer streaming a large message, or a flood) continues here,
  /// so however many do, each other connection's messages wait for at most
  /// one of their turns. I/O thread only.
  virtual void post_bulk(std::function<void()> fn) = 0;
  /// Runs `fn` on the owner's work thread, where work in proportion to
  /// what a peer sent (decoding images) cannot delay the I/O thread.
  /// Returns false if it will not run (the owner is closing). `fn` may
  /// call the event members below.
  virtual bool post_work(std::function<void()> fn) = 0;

  // --- events, on the I/O thread (or the work thread) -------------------------
  /// Whether anyone listens for messages (images): if not, the connection
  /// spares the copy it would hand over.
  [[nodiscard]] bool wants_messages() const noexcept {
    return wants_messages_.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool wants_images() const noexcept {
    return wants_images_.load(std::memory_order_acquire);
  }
  /// A value was stored; `bytes`: what it took on the wire.
  virtual void message_arrived(const std::shared_ptr<connection>& c, std::string_view channel,
                               value v, std::size_t bytes) = 0;
  virtual void image_arrived(const std::shared_ptr<connection>& c, image img) = 0;
  /// A value was stored on `channel`: wakes the owner's waits for it.
  virtual void value_stored(std::string_view channel) = 0;
  /// Bad input or a failure, for the error handler.
  virtual void report(const std::shared_ptr<connection>& c, std::error_code ec,
                      std::string detail) = 0;
  /// What connections keep has passed the engine's budget (see
  /// memory_budget); the owner brings it back under. Any thread.
  virtual void budget_spent() = 0;
  /// Makes room in the budget for `wanted` more bytes, for `asking`, which
  /// is reading: drops what closed connections kept, then closes other
  /// connections that keep more than it. Returns false if there is still
  /// no room (`asking` keeps the most, or what is charged is messages in
  /// progress). I/O thread.
  virtual bool make_room(std::size_t wanted, const connection& asking) = 0;
  /// The connection closed (once).
  virtual void connection_closed(const std::shared_ptr<connection>& c) = 0;
  /// A connection made to redial lost its link for `reason` and waits for
  /// a new stream (detail::reattach). I/O thread.
  virtual void link_down(const std::shared_ptr<connection>& c, std::error_code reason) = 0;
  /// Its new link is up. I/O thread.
  virtual void link_up(const std::shared_ptr<connection>& c) = 0;
  /// With a token (auth_options): the peer of `c` has authenticated, or
  /// was admitted as a legacy peer; a new connection is listed and handed
  /// out only now, a new link of a redialled one is up. I/O thread.
  virtual void authenticated(const std::shared_ptr<connection>& c) = 0;

protected:
  ~connection_owner() = default;
  std::atomic<bool> wants_messages_{false};
  std::atomic<bool> wants_images_{false};
};

} // namespace socketengine::detail
