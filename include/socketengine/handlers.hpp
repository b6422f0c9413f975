#pragma once
/// \file handlers.hpp
/// Callback types shared by hubs, hosts and clients.
///
/// Every callback runs on the engine's callback thread: one thread per hub,
/// host or client, separate from its I/O thread, which runs callbacks one at
/// a time in the order the events happened. No library lock is held while a
/// callback runs, so a callback may call any member function of the engine
/// or its connections, `close()` included. A slow callback never stalls the
/// I/O: events queue behind it, up to `limits::max_pending_callbacks`, past
/// which they are dropped and reported as errc::callback_queue_overflow. An
/// exception thrown by a callback is caught and reported to the error
/// handler as errc::handler_threw.

#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <socketengine/connection.hpp>
#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine {

/// Called with the connection a value arrived on and the value.
using message_handler = std::function<void(const std::shared_ptr<connection>&, const value&)>;

/// Called with the connection, the channel and the value of every message
/// (see `engine::on_message`).
using any_message_handler =
    std::function<void(const std::shared_ptr<connection>&, const std::string&, const value&)>;

/// Called with the connection an image arrived on and the decoded image
/// (see `engine::on_image`).
using image_handler = std::function<void(const std::shared_ptr<connection>&, const image&)>;

/// Called when a connection is made or ends.
using connection_handler = std::function<void(const std::shared_ptr<connection>&)>;

/// Called for bad input, dropped events and exceptions from callbacks. The
/// connection is null when the error is not about one connection. Without an
/// error handler the engine prints these to stderr.
using error_handler =
    std::function<void(const std::shared_ptr<connection>&, std::error_code, const std::string&)>;

} // namespace socketengine
