#pragma once
/// \file error.hpp
/// The library's error codes and their `std::error_category`.

#include <string>
#include <system_error>

namespace socketengine {

/// Errors the library reports. Setup calls throw `std::system_error` with one
/// of these (or an operating-system code); per-message problems arrive through
/// the error handler and the connection's counters instead.
enum class errc {
  // Bad input from a peer: the line (or image) is dropped, the connection
  // goes on, except for line_too_long, which closes the connection.
  line_too_long = 1, ///< a line grew past `limits::max_line_bytes`
  invalid_json,      ///< a line is not valid JSON
  invalid_utf8,      ///< a line holds bytes that are not UTF-8
  too_deep,          ///< JSON nested deeper than `limits::max_depth`
  missing_key,       ///< a JSON object without "type" or "data"
  invalid_message,   ///< not a JSON object, or "type" is not a string
  too_many_channels, ///< a new channel beyond `limits::max_channels`
  invalid_base64,    ///< an image that is not valid base64
  invalid_image,     ///< an image that does not decode (not a PNG or JPEG, truncated,
                     ///< corrupt, or raw pixels that do not match their header)
  image_too_large,   ///< an image larger than `image_options::max_pixels`

  // Writes and connection state.
  not_connected,   ///< the connection is closed (or closing)
  queue_full,      ///< the write queue stayed full past the write timeout
  connect_timeout, ///< no connection could be made within connect_timeout
  engine_closed,   ///< the hub, host or client was closed

  // Why a connection ended (see `connection::close_reason()`).
  closed_locally, ///< `close()` was called on this side
  peer_closing,   ///< the peer sent `__status` / `__closing`
  peer_eof,       ///< the peer closed its side of the socket

  // Trouble in user code, reported to the error handler.
  handler_threw,           ///< a callback threw an exception
  callback_queue_overflow, ///< callbacks fell behind; an event was dropped

  // Bad input in the native protocol (docs/native-protocol.md).
  frame_too_large, ///< a frame longer than `limits::max_line_bytes`, or one too short to
                   ///< be a frame: the stream cannot be trusted, the connection closes
  invalid_frame,   ///< a frame of an unknown kind or with a malformed header: dropped;
                   ///< and a switch to the native protocol that was not offered, or to
                   ///< an unknown version, which closes the connection

  // Peers that take too long, or too many of them (see limits and
  // keepalive_options); each closes the connection it names.
  receive_timeout,   ///< a line or frame arrived slower than `limits::min_receive_rate`
  not_identified,    ///< a peer did not name itself in time, or too many had not
  peer_unresponsive, ///< a native peer sent nothing, not even a heartbeat, for
                     ///< `keepalive_options::heartbeat_misses` intervals
  slow_consumer,     ///< the peer did not drain its full write queue within
                     ///< `limits::slow_peer_timeout` (overflow_policy::disconnect)
  over_budget,       ///< a partial line or frame would pass the engine's
                     ///< `limits::max_receive_bytes`

  // Token authentication (auth_options).
  unauthenticated, ///< the peer's token does not match this side's, or one side
                  ///< has a token and the other none (or is a socket.engine 0.3
                  ///< peer, without auth_options::allow_legacy): the connection
                  ///< closes, and is not redialled

  // LAN discovery (discovery.hpp).
  hub_not_found ///< no hub of the name asked for answered in time
};

/// The category of `errc` values; its name is "socketengine".
const std::error_category& error_category() noexcept;

/// Makes an `std::error_code` in the socketengine category.
std::error_code make_error_code(errc e) noexcept;

/// The category of TLS failures (tls_options), named "socketengine.tls": a
/// handshake that failed, a certificate refused, a record that did not
/// decrypt. Its values are OpenSSL's: a certificate check's result
/// (X509_V_ERR_*, below 65536), or an error from the OpenSSL error queue
/// (ERR_get_error()). message() says why in OpenSSL's words, such as
/// "certificate rejected: certificate has expired" or "tlsv1 alert unknown
/// ca". Test for it with `ec.category() == socketengine::tls_category()`.
const std::error_category& tls_category() noexcept;

} // namespace socketengine

template <>
struct std::is_error_code_enum<socketengine::errc> : std::true_type {};
