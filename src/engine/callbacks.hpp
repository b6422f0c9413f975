#pragma once
// The user's callbacks of one engine: the handlers registered, and the
// events the I/O thread hands over for them, run one at a time on the
// callback thread (dispatcher.hpp), so that user code never runs on the I/O
// thread.
//
// Threading: every member may be called from any thread. The handler lock
// is never held while a handler runs.

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <socketengine/connection.hpp>
#include <socketengine/handlers.hpp>

#include "engine/dispatcher.hpp"

namespace socketengine::detail {

class callbacks : public std::enable_shared_from_this<callbacks> {
public:
  /// `label`: "hub", "host" or "client", for reports on stderr.
  explicit callbacks(std::string label) : label_(std::move(label)) {}

  /// Starts the callback thread, with the queue bounds of
  /// limits::max_pending_callbacks and max_pending_callback_bytes. Once,
  /// right after make_shared.
  void start(std::size_t max_events, std::size_t max_bytes);

  /// Runs what is queued and ends the callback thread (see dispatcher::stop).
  void stop();

  void add_handler(std::string_view channel, message_handler h);
  void add_any_handler(any_message_handler h);
  void add_image_handler(image_handler h);
  /// What happened to a connection, for the handlers of each event.
  enum class event { connected, disconnected, link_down, link_up };
  void add_lifecycle_handler(event e, connection_handler h);
  void set_error_handler(error_handler h);

  /// Queues the handlers of a message; `bytes` weighs it against the bound.
  void message(const std::shared_ptr<connection>& c, std::string channel, value v,
               std::size_t bytes);
  void image(const std::shared_ptr<connection>& c, socketengine::image img);
  void error(const std::shared_ptr<connection>& c, std::error_code ec, std::string detail);
  /// Queues the handlers of `e` for `c`, if there are any.
  void lifecycle(const std::shared_ptr<connection>& c, event e);

  /// Runs the error handler now, on the calling thread, or prints to stderr
  /// when there is none or it throws.
  void report(const std::shared_ptr<connection>& c, std::error_code ec, const std::string& detail);

private:
  const std::string label_;
  std::unique_ptr<dispatcher> dispatcher_;

  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<const message_handler>>> handlers_;
  std::vector<std::shared_ptr<const any_message_handler>> any_handlers_;
  std::vector<std::shared_ptr<const image_handler>> image_handlers_;
  // Indexed by event.
  std::array<std::vector<std::shared_ptr<const connection_handler>>, 4> lifecycle_handlers_;
  std::shared_ptr<const error_handler> error_handler_;
};

} // namespace socketengine::detail
