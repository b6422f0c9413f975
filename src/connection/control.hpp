#pragma once
// What an engine may do with its connections beyond their public API, and
// all it may: make one over a stream, start it, close it, and hand it a
// message or image encoded once for many connections. The engine includes
// this header, never the connection's insides.
//
// Threading: as each function says.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <socketengine/connection.hpp>

#include "connection/link_watch.hpp"
#include "connection/owner.hpp"
#include "protocol/encoded.hpp"
#include "protocol/suite.hpp"
#include "transport/stream.hpp"

namespace socketengine::detail {

/// A connection over `stream`, speaking `protocols`, reporting to `owner`,
/// with its greeting queued: `announce` (a hub's dial sends its name
/// first), then the offer of the native protocol. Its name is `announce`,
/// or empty. With `redial`, a lost link (for any reason but a local close)
/// does not close it: it waits, link_state::reconnecting, for reattach()
/// (see connection_owner::link_down). It reads nothing until start(). I/O
/// thread.
std::shared_ptr<connection> make_connection(const std::shared_ptr<connection_owner>& owner,
                                            std::unique_ptr<transport::stream> stream,
                                            std::shared_ptr<const protocol::suite> protocols,
                                            connection_kind kind,
                                            std::optional<std::string_view> announce, bool redial);

/// Gives a reconnecting connection its new link, `stream`: the greeting
/// goes again, then what was written meanwhile, and reading starts. A
/// connection that closed meanwhile drops it. I/O thread.
void reattach(const std::shared_ptr<connection>& c, std::unique_ptr<transport::stream> stream);

/// Starts reading and writes the greeting. I/O thread.
void start(const std::shared_ptr<connection>& c);

/// A graceful close (see connection::close), sending the closing message
/// where the protocol has one. I/O thread.
void begin_close(const std::shared_ptr<connection>& c, std::error_code reason);

/// Closes at once. I/O thread.
void finish_close(const std::shared_ptr<connection>& c, std::error_code reason);

/// Lets an idle connection give back its read buffer. I/O thread.
void release_idle_buffers(connection& c) noexcept;

/// Keeps the connection to `s` at `now` (see link_watch): pings its peer,
/// or closes it, reported, if it is too slow, silent or anonymous. The
/// engine calls it every s.tick(). I/O thread.
void watch(connection& c, const watch_settings& s, std::chrono::steady_clock::time_point now);

/// True for an accepted connection whose peer has not yet named itself (on
/// a hub) or sent a byte (on a host). I/O thread.
[[nodiscard]] bool awaiting_identity(const connection& c) noexcept;

/// Bytes `c` keeps of what it received (values, image, images waiting to be
/// decoded), as charged to the engine's budget. Any thread.
[[nodiscard]] std::size_t held_bytes(const connection& c) noexcept;

/// Forgets what `c` keeps, giving it back to the budget; returns how much.
/// Any thread.
std::size_t drop_held(connection& c);

/// True once closed (not merely closing). Any thread.
[[nodiscard]] bool closed(const connection& c);

/// Queues a message encoded once for many connections; as
/// connection::write. Any thread but the I/O thread.
/// \throws what the writers throw (errc::invalid_utf8, invalid_argument).
void write(connection& c, protocol::encoded_message& message, std::error_code& ec);

/// Sends an image encoded once for many connections; as
/// connection::write_image. Any thread but the I/O thread.
/// \throws what the encoders throw.
image_status write_image(connection& c, protocol::encoded_image& img, std::error_code& ec);

} // namespace socketengine::detail
