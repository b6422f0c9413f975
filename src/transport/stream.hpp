#pragma once
// A connected byte stream as a connection sees it: the seam between a
// connection and the transport under it. Each transport (tcp/, unix/) makes
// streams of its own; the connection never names a socket type.
//
// Threading: every call but try_write() is made on the engine's I/O thread,
// and every completion runs there. try_write() may come from any thread,
// serialised by the caller with async_write() and close() (the connection
// calls all three under its write lock, or on the I/O thread while no
// try_write can run).

#include <asio/buffer.hpp>

#include <socketengine/options.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace socketengine::detail::transport {

/// Who a stream reports completions to (the connection). The stream holds
/// the shared_ptr given with an operation until its completion has run, so
/// the user lives at least that long.
class stream_user {
public:
  /// read_some() has something to say: bytes, the end of the stream or an
  /// error. `ec`: waiting itself failed (operation_aborted after close()).
  virtual void on_readable(std::error_code ec) = 0;
  /// An async_write() ended: `n` bytes were written, all of them unless `ec`.
  virtual void on_written(std::error_code ec, std::size_t n) = 0;
  /// An async_write() under way has written `n` bytes so far: a large write
  /// that moves is a peer taking it. On the I/O thread, before on_written.
  virtual void on_write_progress(std::size_t /*n*/) noexcept {}
  /// A closed stream that was not idle() has finished what it had under
  /// way: it may now be destroyed (from this call, as its last use of
  /// itself). On the I/O thread.
  virtual void on_stream_idle() {}

protected:
  ~stream_user() = default;
};

/// Where a stream leads, as connection::address() and port() report it.
struct peer {
  std::string address; ///< an IP address, or an endpoint such as "unix:/run/robot.sock"
  std::uint16_t port = 0; ///< 0 where the transport has no ports
};

class stream {
public:
  explicit stream(peer p) : peer_(std::move(p)) {}
  virtual ~stream() = default;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  /// Reads what has arrived into `into`, without waiting. Returns the bytes
  /// read; sets `ec` to asio::error::would_block when nothing has arrived,
  /// to asio::error::eof at the end of the stream.
  virtual std::size_t read_some(std::span<char> into, std::error_code& ec) = 0;

  /// Calls user->on_readable() once read_some() has something to say. No
  /// buffer is held meanwhile, so an idle connection holds none.
  virtual void async_wait_readable(std::shared_ptr<stream_user> user) = 0;

  /// Writes every byte of `buffers`, in order, with as few system calls as
  /// the transport allows (one gathering write when the socket takes it
  /// all), then calls user->on_written(). One at a time; the buffers must
  /// stay valid until then.
  virtual void async_write(std::vector<asio::const_buffer> buffers,
                           std::shared_ptr<stream_user> user) = 0;

  /// Hands `bytes` to the operating system now, from the calling thread,
  /// without blocking: the direct write that spares waking the I/O thread
  /// for a small message (see docs/design.md, Writing). Returns how many
  /// bytes it took, 0 when none (the socket is full, or an error that the
  /// next async_write() will meet). Any thread; see the file comment.
  virtual std::size_t try_write(std::string_view bytes) noexcept = 0;

  /// The most bytes worth handing to one try_write(): a stream that must
  /// take all it is handed before the socket does (TLS encrypts it all,
  /// under its lock) says how much that may be. Unbounded by default.
  [[nodiscard]] virtual std::size_t try_write_limit() const noexcept {
    return static_cast<std::size_t>(-1);
  }

  /// Asks that async_wait_readable() complete only once `bytes` have
  /// arrived (or the stream ends or fails), where the transport can (TCP,
  /// with SO_RCVLOWAT); 1 or 0 is any byte, as by default. Only waking
  /// changes: read_some() still returns whatever has arrived. I/O thread.
  virtual void wake_after(std::size_t /*bytes*/) noexcept {}

  /// Ends this side's output (a FIN on TCP); reading goes on.
  virtual void shutdown_send() noexcept = 0;

  /// Closes the stream; a pending wait or write completes with
  /// operation_aborted.
  virtual void close() noexcept = 0;

  /// False while the stream has work of its own under way on the I/O
  /// thread that will still use it: TLS sending the rest of a record that
  /// try_write() encrypted. A closed stream must not be destroyed until it
  /// is idle; one that was not tells its user with on_stream_idle(). I/O
  /// thread.
  [[nodiscard]] virtual bool idle() const noexcept { return true; }

  /// Has the transport watch the link as `o` says, where it can (TCP
  /// keepalive and user timeout); nothing where the system knows of a
  /// vanished peer by itself (Unix sockets).
  virtual void keep_alive(const keepalive_options& /*o*/) noexcept {}

  /// Where the stream leads.
  [[nodiscard]] const transport::peer& remote() const noexcept { return peer_; }

private:
  transport::peer peer_;
};

} // namespace socketengine::detail::transport
