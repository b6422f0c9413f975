// Raw TCP cases of socketengine-bench: what a plain stream over loopback
// can do, the reference the other systems are held to.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "compare.hpp"

namespace compare {

namespace {

std::string os_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class socket_fd {
public:
  explicit socket_fd(int fd = -1) noexcept : fd_(fd) {}
  socket_fd(socket_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  socket_fd& operator=(socket_fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~socket_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

private:
  int fd_;
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Blocking sockets with TCP_NODELAY, as a latency-minded program sets them,
// and with send and receive timeouts so that a peer that stops answering
// fails the case instead of hanging it.
void tune(const socket_fd& s) {
  const int one = 1;
  if (::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    throw failure(os_error("TCP_NODELAY"));
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(patience).count();
  const timeval tv{static_cast<time_t>(secs), 0};
  if (::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    throw failure(os_error("socket timeouts"));
}

socket_fd listen_loopback(std::uint16_t& port) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) throw failure(os_error("socket"));
  auto addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.get(), 4) != 0 ||
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw failure(os_error("listen on 127.0.0.1"));
  port = ntohs(addr.sin_port);
  return s;
}

socket_fd accept_one(const socket_fd& listener) {
  pollfd p{listener.get(), POLLIN, 0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(patience).count();
  if (::poll(&p, 1, static_cast<int>(ms)) != 1) throw failure("raw TCP: no connection to accept");
  socket_fd s(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (s.get() < 0) throw failure(os_error("accept"));
  tune(s);
  return s;
}

socket_fd dial(std::uint16_t port) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) throw failure(os_error("socket"));
  tune(s);
  const auto addr = loopback(port);
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw failure(os_error("connect to 127.0.0.1"));
  return s;
}

void send_all(const socket_fd& s, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::send(s.get(), data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw failure(os_error("raw TCP send"));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// A 4-byte length and then `size` bytes from where they are, both in one
// sendmsg (no copy into a buffer of the sender's, no separate small segment
// for the length); more calls only after a partial send, which a blocking
// socket makes when a signal or the timeout interrupts it.
void send_prefixed(const socket_fd& s, const std::uint8_t* data, std::size_t size) {
  const auto len = static_cast<std::uint32_t>(size);
  iovec parts[2] = {{const_cast<std::uint32_t*>(&len), 4},
                    {const_cast<std::uint8_t*>(data), size}};
  iovec* part = parts;
  std::size_t left = 2;
  while (left > 0) {
    msghdr msg{};
    msg.msg_iov = part;
    msg.msg_iovlen = left;
    const auto n = ::sendmsg(s.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw failure(os_error("raw TCP send"));
    }
    auto sent = static_cast<std::size_t>(n);
    while (left > 0 && sent >= part->iov_len) {
      sent -= part->iov_len;
      ++part;
      --left;
    }
    if (left > 0) {
      part->iov_base = static_cast<std::uint8_t*>(part->iov_base) + sent;
      part->iov_len -= sent;
    }
  }
}

// Some bytes, at least one; a closed stream or a timeout is a failure.
std::size_t recv_some(const socket_fd& s, std::uint8_t* into, std::size_t capacity) {
  for (;;) {
    const auto n = ::recv(s.get(), into, capacity, 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) throw failure("raw TCP: the peer closed the stream early");
    if (errno != EINTR) throw failure(os_error("raw TCP recv"));
  }
}

// Exactly `size` bytes; false on a clean end of stream before the first byte.
bool recv_exactly(const socket_fd& s, std::uint8_t* into, std::size_t size) {
  std::size_t have = 0;
  while (have < size) {
    const auto n = ::recv(s.get(), into + have, size - have, 0);
    if (n > 0) {
      have += static_cast<std::size_t>(n);
    } else if (n == 0) {
      if (have == 0) return false;
      throw failure("raw TCP: the peer closed the stream inside a message");
    } else if (errno != EINTR) {
      throw failure(os_error("raw TCP recv"));
    }
  }
  return true;
}

} // namespace

double tcp_stream(std::size_t payload, std::uint64_t count) {
  std::uint16_t port = 0;
  const auto listener = listen_loopback(port);
  clock_type::time_point end;
  worker receiver([&] {
    const auto s = accept_one(listener);
    // Large reads, and the frames walked in place: a partial frame at the
    // end of a block moves to the front and is completed by the next read.
    std::vector<std::uint8_t> block(std::size_t{256} << 10);
    std::size_t have = 0;
    for (std::uint64_t got = 0; got < count;) {
      have += recv_some(s, block.data() + have, block.size() - have);
      std::size_t at = 0;
      while (have - at >= 4) {
        std::uint32_t len = 0;
        std::memcpy(&len, block.data() + at, 4);
        if (len != payload) throw failure("raw TCP: a frame of the wrong length");
        if (have - at - 4 < len) break;
        at += 4 + len;
        ++got;
      }
      std::memmove(block.data(), block.data() + at, have - at);
      have -= at;
    }
    end = clock_type::now();
  });

  std::optional<clock_type::time_point> start;
  try {
    const auto s = dial(port);
    const std::vector<std::uint8_t> message(payload, 'x');
    const auto len = static_cast<std::uint32_t>(payload);
    // Each message is copied into a 64 KiB batch, as a sender that frames
    // its own messages would, and a full batch goes out in one send.
    std::vector<std::uint8_t> batch(std::size_t{64} << 10);
    std::size_t used = 0;
    start = clock_type::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      if (batch.size() - used < 4 + payload) {
        send_all(s, batch.data(), used);
        used = 0;
      }
      std::memcpy(batch.data() + used, &len, 4);
      std::memcpy(batch.data() + used + 4, message.data(), payload);
      used += 4 + payload;
    }
    send_all(s, batch.data(), used);
    receiver.join();
  } catch (...) {
    // The receiver fails on its own once the stream closes or times out.
    receiver.join_quietly();
    throw;
  }
  return seconds_between(*start, end);
}

std::vector<double> tcp_round_trips(const settings& s) {
  constexpr std::size_t size = 16;
  std::uint16_t port = 0;
  const auto listener = listen_loopback(port);
  worker echo([&] {
    const auto peer = accept_one(listener);
    std::uint8_t buf[size];
    while (recv_exactly(peer, buf, size)) send_all(peer, buf, size);
  });

  std::vector<double> samples;
  samples.reserve(s.rtt_samples);
  try {
    const auto peer = dial(port);
    std::uint8_t out[size] = {}, in[size] = {};
    for (std::uint64_t i = 0; i < s.rtt_warmup + s.rtt_samples; ++i) {
      std::memcpy(out, &i, sizeof i);
      const auto t0 = clock_type::now();
      send_all(peer, out, size);
      if (!recv_exactly(peer, in, size)) throw failure("raw TCP: the echo closed the stream");
      const auto t1 = clock_type::now();
      if (std::memcmp(in, out, size) != 0) throw failure("raw TCP: the echo is not the message");
      if (i >= s.rtt_warmup) samples.push_back(seconds_between(t0, t1) * 1e6);
    }
    ::shutdown(peer.get(), SHUT_WR); // the echo's end of stream
    echo.join();
  } catch (...) {
    echo.join_quietly();
    throw;
  }
  return samples;
}

frame_rate tcp_frames(const settings& s, const std::vector<socketengine::image>& frames) {
  const std::size_t frame_size = frames.front().size_bytes();
  for (const auto& f : frames)
    if (f.size_bytes() != frame_size) throw failure("raw TCP: the frames differ in size");
  std::uint16_t port = 0;
  const auto listener = listen_loopback(port);

  std::atomic<std::uint64_t> received{0}, bytes{0};
  std::atomic<bool> stop{false};
  // Each frame read straight into one buffer of the frame's size, reused,
  // and counted; the sender's end of stream, between two frames, ends it.
  worker receiver([&] {
    const auto peer = accept_one(listener);
    std::vector<std::uint8_t> pixels(frame_size);
    for (;;) {
      std::uint32_t len = 0;
      if (!recv_exactly(peer, reinterpret_cast<std::uint8_t*>(&len), 4)) return;
      if (len != frame_size) throw failure("raw TCP: a frame of the wrong length");
      if (!recv_exactly(peer, pixels.data(), frame_size))
        throw failure("raw TCP: the peer closed the stream inside a frame");
      bytes += 4 + frame_size;
      ++received;
    }
  });

  // Each frame sent from its own pixels, one after the other: nothing to
  // encode and no reply to wait for, so the stream is never idle.
  worker sender([&] {
    const auto peer = dial(port);
    for (std::uint64_t n = 0; !stop.load(); ++n) {
      const auto& frame = frames[n % frames.size()];
      send_prefixed(peer, frame.data(), frame.size_bytes());
    }
    ::shutdown(peer.get(), SHUT_WR); // the receiver's end of stream
  });

  frame_rate r;
  try {
    r = time_frames(s, [&] { return frame_tally{received.load(), bytes.load()}; });
  } catch (...) {
    // The sender stops at the next frame, or fails on its send timeout; the
    // receiver then sees the end of stream, or fails on its own timeout.
    stop = true;
    sender.join_quietly();
    receiver.join_quietly();
    throw;
  }
  stop = true;
  // A receiver that fails closes the stream under the sender, whose send
  // then fails too: the receiver's failure, if any, is the one to report.
  std::exception_ptr sending;
  try {
    sender.join();
  } catch (...) {
    sending = std::current_exception();
  }
  receiver.join();
  if (sending) std::rethrow_exception(sending);
  return r;
}

} // namespace compare
