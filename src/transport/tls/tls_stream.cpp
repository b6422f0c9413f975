#include "transport/tls/tls_stream.hpp"

#include <asio/buffer.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <new>

#include "transport/system.hpp"
#include "transport/tls/config.hpp"

namespace socketengine::detail::transport::tls {

namespace {
// What one socket read takes: a whole TLS record and its header.
constexpr std::size_t read_chunk = 16 * 1024 + 512;
// Plaintext encrypted at once by the I/O thread: large writes are encrypted
// piece by piece as the socket takes them, so ciphertext held stays small.
constexpr std::size_t encrypt_chunk = 64 * 1024;
} // namespace

tls_stream::tls_stream(asio::ip::tcp::socket socket, SSL* ssl, peer p)
    : stream(std::move(p)), socket_(std::move(socket)), fd_(socket_.native_handle()), ssl_(ssl) {
  in_bio_ = BIO_new(BIO_s_mem());
  out_bio_ = BIO_new(BIO_s_mem());
  if (!in_bio_ || !out_bio_) {
    BIO_free(in_bio_);
    BIO_free(out_bio_);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  // An empty input buffer means "more to come", not the end of the stream.
  BIO_set_mem_eof_return(in_bio_, -1);
  SSL_set_bio(ssl_, in_bio_, out_bio_); // the session owns them from here
  socket_.non_blocking(true);
}

tls_stream::~tls_stream() { SSL_free(ssl_); }

std::error_code tls_stream::session_error(int ret) {
  int kind = SSL_get_error(ssl_, ret);
  if (kind == SSL_ERROR_ZERO_RETURN) return asio::error::eof; // the peer's close_notify
  unsigned long code = ERR_peek_error();
  // The first error queued is the cause; what follows it says where.
  if (kind == SSL_ERROR_SSL && code != 0) {
    ERR_clear_error();
    if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      auto result = SSL_get_verify_result(ssl_);
      if (result != X509_V_OK) return certificate_error(result);
    }
    return openssl_error(code);
  }
  ERR_clear_error();
  return asio::error::eof; // SSL_ERROR_SYSCALL with nothing queued: the stream ended
}

void tls_stream::take_output_locked() {
  // out_ stays as it is while a send reads it (sending_): what the session
  // made meanwhile waits in its BIO for the next take.
  if (sending_) return;
  char* data = nullptr;
  long n = BIO_get_mem_data(out_bio_, &data);
  if (n <= 0) return;
  out_.append(data, static_cast<std::size_t>(n));
  (void)BIO_reset(out_bio_);
}

std::string tls_stream::take_output() {
  std::lock_guard lk(mu_);
  take_output_locked();
  std::string out = out_.substr(out_sent_);
  out_.clear();
  out_sent_ = 0;
  return out;
}

void tls_stream::send_now_locked() noexcept {
  while (out_sent_ < out_.size()) {
    auto n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_,
                    MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break; // full, or an error that the next write meets
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  }
}

// --- the handshake -------------------------------------------------------------

tls_stream::step tls_stream::handshake_step(std::error_code& ec) {
  std::lock_guard lk(mu_);
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  take_output_locked(); // the next flight, or the alert that says why not
  if (r == 1) return step::done;
  if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) return step::want_read;
  ec = session_error(r);
  return step::failed;
}

bool tls_stream::pull(std::error_code& ec, std::size_t& got) {
  char buf[read_chunk];
  got = 0;
  for (;;) {
    auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      std::lock_guard lk(mu_);
      BIO_write(in_bio_, buf, static_cast<int>(n));
      got = static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      ec = asio::error::eof;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    ec = std::error_code(errno, std::system_category());
    return false;
  }
}

// --- reading -----------------------------------------------------------------------

std::size_t tls_stream::read_some(std::span<char> into, std::error_code& ec) {
  ec.clear();
  if (dry_) {
    // The session holds nothing to read: only the socket can have more.
    // Asking it first, without the lock, keeps this thread off a writer
    // that holds the lock through its send (a round trip's next message,
    // sent as soon as this thread delivered the reply) and off a futex
    // sleep and wake when the socket has nothing yet.
    std::size_t got = 0;
    if (!pull(ec, got)) return 0;
    if (got == 0) {
      ec = asio::error::would_block;
      return 0;
    }
  }
  std::unique_lock lk(mu_);
  if (closed_) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  const int want = static_cast<int>(std::min<std::size_t>(into.size(), INT_MAX));
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(ssl_, into.data(), want);
    if (n > 0) {
      dry_ = SSL_has_pending(ssl_) == 0 && BIO_ctrl_pending(in_bio_) == 0;
      return static_cast<std::size_t>(n);
    }
    dry_ = false;
    if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ) {
      ec = session_error(n);
      // An alert the session made to say why goes out if it can.
      if (!sending_) {
        take_output_locked();
        send_now_locked();
      }
      return 0;
    }
    // Whatever the session made while reading (a reply to a key update)
    // goes out with the next write.
    take_output_locked();
    lk.unlock();
    std::size_t got = 0;
    bool more = pull(ec, got);
    lk.lock();
    if (!more) return 0;
    if (got == 0) {
      dry_ = true;
      ec = asio::error::would_block;
      return 0;
    }
  }
}

void tls_stream::async_wait_readable(std::shared_ptr<stream_user> user) {
  // read_some() says would_block only once the session holds no whole
  // record: waiting on the socket is then enough.
  if (!user_known_) {
    // Always the same user: locking for it once is enough.
    std::lock_guard lk(mu_);
    user_ = user;
    user_known_ = true;
  }
  socket_.async_wait(asio::socket_base::wait_read,
                     [user = std::move(user)](std::error_code ec) { user->on_readable(ec); });
}

// --- writing -----------------------------------------------------------------------

std::size_t tls_stream::try_write(std::string_view bytes) noexcept {
  std::lock_guard lk(mu_);
  // Only with nothing else on the way: what it sends must follow it.
  if (closed_ || sending_ || request_ || !out_.empty() || out_ec_ || bytes.empty()) return 0;
  ERR_clear_error();
  int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX)));
  if (n <= 0) {
    ERR_clear_error();
    return 0; // the next async_write() meets the error
  }
  take_output_locked();
  send_now_locked();
  if (!out_.empty()) {
    // The socket took part of the record: the rest goes from the I/O
    // thread, the connection kept alive meanwhile, and the stream too:
    // it is not idle() until the pump has run (it waits for mu_, held).
    try {
      if (auto user = user_.lock()) {
        asio::post(socket_.get_executor(), [this, user] {
          {
            std::lock_guard posted_lk(mu_);
            --posted_;
          }
          own_work_done(user);
        });
        ++posted_;
      }
    } catch (...) {
      // Posting allocates. The rest then goes ahead of the next write.
    }
  }
  return static_cast<std::size_t>(n);
}

void tls_stream::async_write(std::vector<asio::const_buffer> buffers,
                             std::shared_ptr<stream_user> user) {
  {
    std::lock_guard lk(mu_);
    request r;
    r.total = asio::buffer_size(buffers);
    r.buffers = std::move(buffers);
    r.user = std::move(user);
    request_.emplace(std::move(r));
  }
  pump();
}

void tls_stream::pump() {
  std::unique_lock lk(mu_);
  if (sending_) return; // its completion pumps again
  if (out_sent_ < out_.size() && !out_ec_ && !closed_) {
    sending_ = true;
    std::shared_ptr<stream_user> keep = request_ ? request_->user : user_.lock();
    auto pending = asio::buffer(out_.data() + out_sent_, out_.size() - out_sent_);
    lk.unlock();
    asio::async_write(socket_, pending,
                      [this, keep = std::move(keep)](std::error_code ec, std::size_t n) {
                        {
                          std::lock_guard done_lk(mu_);
                          sending_ = false;
                          out_sent_ += n;
                          if (out_sent_ == out_.size()) {
                            out_.clear();
                            out_sent_ = 0;
                          }
                          if (ec && !out_ec_) out_ec_ = portable(ec);
                        }
                        own_work_done(keep);
                      });
    return;
  }
  if (!request_) return;
  auto& r = *request_;
  if (closed_ && !out_ec_) out_ec_ = asio::error::operation_aborted;
  if (out_ec_ || (r.encrypted == r.total && out_.empty())) {
    auto done = std::move(*request_);
    request_.reset();
    auto ec = out_ec_;
    lk.unlock();
    done.user->on_written(ec, ec ? done.encrypted : done.total);
    return;
  }
  // out_ is empty: all encrypted so far has gone.
  if (r.encrypted > 0) {
    auto user = r.user;
    auto progress = r.encrypted;
    lk.unlock();
    user->on_write_progress(progress);
    lk.lock();
    if (!request_ || sending_) return;
  }
  // The next piece: a large buffer straight from where it is; small
  // buffers joined, where encrypting each on its own would cost a record
  // (and a header) each.
  const char* piece = nullptr;
  std::size_t piece_size = 0;
  std::string joined;
  if (const auto& b = request_->buffers[request_->at]; b.size() - request_->at_offset >= encrypt_chunk) {
    piece = static_cast<const char*>(b.data()) + request_->at_offset;
    piece_size = encrypt_chunk;
    request_->at_offset += encrypt_chunk;
    if (request_->at_offset == b.size()) {
      ++request_->at;
      request_->at_offset = 0;
    }
  }
  std::size_t budget = piece ? 0 : encrypt_chunk;
  while (request_->at < request_->buffers.size() && budget > 0) {
    const auto& b = request_->buffers[request_->at];
    auto take = std::min(b.size() - request_->at_offset, budget);
    joined.append(static_cast<const char*>(b.data()) + request_->at_offset, take);
    budget -= take;
    request_->at_offset += take;
    if (request_->at_offset == b.size()) {
      ++request_->at;
      request_->at_offset = 0;
    }
  }
  if (!piece) {
    piece = joined.data();
    piece_size = joined.size();
  }
  if (piece_size > 0) {
    ERR_clear_error();
    int n = SSL_write(ssl_, piece, static_cast<int>(piece_size));
    if (n <= 0) {
      out_ec_ = session_error(n);
    } else {
      request_->encrypted += piece_size;
      take_output_locked();
    }
  }
  lk.unlock();
  pump();
}

void tls_stream::own_work_done(const std::shared_ptr<stream_user>& user) {
  bool done;
  {
    std::lock_guard lk(mu_);
    // With a write still asked for, pump() ends it, and its user checks
    // idle() then: only without one is there nobody else to tell.
    done = closed_ && !sending_ && posted_ == 0 && !request_;
  }
  if (!done) {
    pump();
    return;
  }
  if (user) user->on_stream_idle(); // may destroy this stream
}

bool tls_stream::idle() const noexcept {
  std::lock_guard lk(mu_);
  return !sending_ && posted_ == 0;
}

// --- ending --------------------------------------------------------------------------

void tls_stream::shutdown_send() noexcept {
  std::lock_guard lk(mu_);
  if (closed_) return;
  // close_notify tells the peer this is the end and not a cut; it goes
  // only if the socket takes it now (the writes before it are done). A
  // peer that gets the end without it takes it as the end all the same:
  // both protocols end their messages themselves, so a stream cut short
  // cannot pass for a whole message.
  if (!sending_ && out_.empty()) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
    take_output_locked();
    send_now_locked();
    out_.clear();
    out_sent_ = 0;
  }
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void tls_stream::close() noexcept {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  std::error_code ignored;
  socket_.close(ignored);
}

void tls_stream::keep_alive(const keepalive_options& o) noexcept { tcp_keep_alive(fd_, o); }

} // namespace socketengine::detail::transport::tls
