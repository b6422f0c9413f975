#pragma once
// A stream over any Asio stream socket: what TCP and Unix domain sockets
// have in common. A transport folder instantiates it with its protocol.

#include <asio.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <type_traits>

#include "transport/stream.hpp"
#include "transport/system.hpp"

namespace socketengine::detail::transport {

template <class Protocol>
class socket_stream final : public stream {
  // Most bytes offered to one system call of a write. Each call ends in a
  // completion that lets the I/O thread's other work run, so this bounds
  // how long a large write holds the thread at once (about a millisecond
  // over loopback), while a 640x480 BGR frame (900 KiB) still takes one.
  static constexpr std::size_t max_write_some = std::size_t{1} << 20;

public:
  using socket_type = asio::basic_stream_socket<Protocol>;

  /// Takes a connected socket. It is made non-blocking, so that read_some()
  /// never waits. \throws std::system_error if that fails.
  socket_stream(socket_type socket, peer p)
      : stream(std::move(p)), socket_(std::move(socket)), fd_(socket_.native_handle()) {
    socket_.non_blocking(true);
  }

  std::size_t read_some(std::span<char> into, std::error_code& ec) override {
    return socket_.read_some(asio::buffer(into.data(), into.size()), ec);
  }

  void async_wait_readable(std::shared_ptr<stream_user> user) override {
    socket_.async_wait(asio::socket_base::wait_read,
                       [user = std::move(user)](std::error_code ec) { user->on_readable(ec); });
  }

  void async_write(std::vector<asio::const_buffer> buffers,
                   std::shared_ptr<stream_user> user) override {
    // The completion condition runs before each write_some of the
    // composed write, so it can report progress; it asks for everything,
    // as asio::transfer_all does, but up to max_write_some a system call
    // where transfer_all offers 64 KiB: a raw camera frame then leaves in
    // one sendmsg instead of fifteen. The handler holds the user meanwhile.
    auto* watcher = user.get();
    asio::async_write(
        socket_, std::move(buffers),
        [watcher](std::error_code ec, std::size_t n) -> std::size_t {
          if (ec) return 0;
          if (n > 0) watcher->on_write_progress(n);
          return max_write_some;
        },
        [user = std::move(user)](std::error_code ec, std::size_t n) { user->on_written(ec, n); });
  }

  std::size_t try_write(std::string_view bytes) noexcept override {
    // Straight to the descriptor: Asio's socket object belongs to the I/O
    // thread, the kernel's socket does not.
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  void wake_after(std::size_t bytes) noexcept override {
    // Unix sockets would keep waking at every byte: their poll ignores the
    // mark, so it is not set there.
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      const auto mark = static_cast<int>(std::clamp<std::size_t>(bytes, 1, INT_MAX));
      if (mark == wake_mark_) return; // a system call per change, not per wait
      // The kernel bounds the mark by what the socket may buffer, growing
      // the receive buffer to hold it, so the wait always ends.
      if (::setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof mark) == 0) wake_mark_ = mark;
    }
  }

  void shutdown_send() noexcept override {
    std::error_code ignored;
    socket_.shutdown(socket_type::shutdown_send, ignored);
  }

  void keep_alive(const keepalive_options& o) noexcept override {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) tcp_keep_alive(fd_, o);
  }

  void close() noexcept override {
    std::error_code ignored;
    socket_.close(ignored);
  }

private:
  socket_type socket_;
  const int fd_; // for try_write from other threads
  int wake_mark_ = 1; // SO_RCVLOWAT as last set
};

} // namespace socketengine::detail::transport
