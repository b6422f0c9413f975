#include "transport/tls/tls_stream.hpp"

#include <asio/buffer.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include "transport/system.hpp"
#include "transport/tls/config.hpp"

namespace socketengine::detail::transport::tls {

namespace {
// The most one TLS record carries, so one read takes a whole record.
constexpr std::size_t record_bytes = 16 * 1024;
// A write of at most this much is copied into one buffer, and so sent as
// few records; above it, buffers this small are copied together, and
// larger ones go as they are. Asio's TLS stream encrypts one buffer per
// call, each ending its own record: a frame's 12-byte header on its own
// would cost a record and a system call.
constexpr std::size_t gather_whole_below = 64 * 1024;
constexpr std::size_t gather_pieces_below = 4 * 1024;
} // namespace

tls_stream::tls_stream(std::unique_ptr<ssl_socket> socket, peer p)
    : stream(std::move(p)), socket_(std::move(socket)) {}

std::size_t tls_stream::read_some(std::span<char> into, std::error_code& ec) {
  ec.clear();
  if (in_begin_ < in_end_) {
    auto n = std::min(into.size(), in_end_ - in_begin_);
    std::memcpy(into.data(), in_.get() + in_begin_, n);
    in_begin_ += n;
    return n;
  }
  if (in_ec_) {
    ec = in_ec_;
    return 0;
  }
  ec = closed_ ? asio::error::bad_descriptor : asio::error::would_block;
  return 0;
}

void tls_stream::async_wait_readable(std::shared_ptr<stream_user> user) {
  if (in_begin_ < in_end_ || in_ec_) {
    asio::post(socket_->get_executor(), [this, user = std::move(user)] {
      user->on_readable(closed_ ? asio::error::operation_aborted : std::error_code());
    });
    return;
  }
  if (!in_) in_ = std::make_unique<char[]>(record_bytes);
  socket_->async_read_some(asio::buffer(in_.get(), record_bytes),
                           [this, user = std::move(user)](std::error_code ec, std::size_t n) {
                             if (closed_ || ec == asio::error::operation_aborted)
                               return user->on_readable(asio::error::operation_aborted);
                             in_begin_ = 0;
                             in_end_ = n;
                             if (ec) in_ec_ = failure(ec, socket_->native_handle());
                             user->on_readable({});
                           });
}

void tls_stream::async_write(std::vector<asio::const_buffer> buffers,
                             std::shared_ptr<stream_user> user) {
  std::size_t total = asio::buffer_size(buffers);
  std::size_t piece_max = total <= gather_whole_below ? std::numeric_limits<std::size_t>::max()
                                                      : gather_pieces_below - 1;
  if (buffers.size() > 1) {
    std::size_t small = 0;
    for (const auto& b : buffers)
      if (b.size() <= piece_max) small += b.size();
    gathered_.clear();
    gathered_.reserve(small); // so that appending never moves what is gathered
    std::vector<asio::const_buffer> out;
    bool run = false; // out.back() is a run of gathered_ still growing
    for (const auto& b : buffers) {
      if (b.size() > piece_max) {
        out.push_back(b);
        run = false;
        continue;
      }
      auto at = gathered_.size();
      gathered_.append(static_cast<const char*>(b.data()), b.size());
      if (run) {
        auto start = static_cast<const char*>(out.back().data());
        out.back() = asio::buffer(start, gathered_.data() + gathered_.size() - start);
      } else {
        out.push_back(asio::buffer(gathered_.data() + at, b.size()));
        run = true;
      }
    }
    buffers = std::move(out);
  }
  auto* watcher = user.get();
  asio::async_write(
      *socket_, std::move(buffers),
      [watcher](std::error_code ec, std::size_t n) -> std::size_t {
        if (ec) return 0;
        if (n > 0) watcher->on_write_progress(n);
        return asio::transfer_all()(ec, n);
      },
      [this, user = std::move(user)](std::error_code ec, std::size_t n) {
        user->on_written(ec ? failure(ec, socket_->native_handle()) : ec, n);
      });
}

void tls_stream::shutdown_send() noexcept {
  // TLS ends a stream with a close_notify record, and Asio sends one only
  // while waiting for the peer's, a read of its own that would race the
  // connection's. Both protocols end their messages themselves (a line
  // with its newline, a frame with its length), so a stream cut short
  // cannot pass for a whole message, and the end of the TCP stream is end
  // enough: the reading side takes it as the end (see failure()).
  std::error_code ignored;
  socket_->lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void tls_stream::close() noexcept {
  closed_ = true;
  std::error_code ignored;
  socket_->lowest_layer().close(ignored);
}

void tls_stream::keep_alive(const keepalive_options& o) noexcept {
  tcp_keep_alive(socket_->lowest_layer().native_handle(), o);
}

} // namespace socketengine::detail::transport::tls
