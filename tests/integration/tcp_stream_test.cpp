// A TCP stream's wait for readability can be told to wait for more than a
// byte (wake_after, SO_RCVLOWAT): a connection reading a large frame asks
// for the rest in steps instead of being woken at every segment. The wait
// must then end once that much has come, when the peer hangs up short of
// it, and at once when the mark is lowered below what is there; reading
// never waits for the mark.

#include <gtest/gtest.h>

#include <asio.hpp>

#include <sys/ioctl.h>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include "support/test_support.hpp"
#include "transport/socket_stream.hpp"

namespace socketengine {
namespace {

using detail::transport::stream_user;
using test::eventually;
using test::patience;
using tcp = asio::ip::tcp;
using tcp_stream = detail::transport::socket_stream<tcp>;

class waiter final : public stream_user {
public:
  void on_readable(std::error_code ec) override {
    ++woken;
    last = ec;
  }
  void on_written(std::error_code, std::size_t) override {}

  int woken = 0;
  std::error_code last;
};

// A stream over loopback, as an accepting hub holds it, and the socket at
// the other end.
struct link {
  asio::io_context io;
  tcp::socket peer{io};
  std::unique_ptr<tcp_stream> stream;
  int fd = -1;
  std::shared_ptr<waiter> user = std::make_shared<waiter>();

  link() {
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    peer.connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    fd = accepted.native_handle();
    stream = std::make_unique<tcp_stream>(std::move(accepted), detail::transport::peer{});
  }

  // Bytes the kernel holds for the stream, not yet read.
  [[nodiscard]] int queued() const {
    int n = 0;
    if (::ioctl(fd, FIONREAD, &n) != 0) throw std::system_error(errno, std::generic_category());
    return n;
  }

  void send(std::size_t n) { asio::write(peer, asio::buffer(std::string(n, 'x'))); }

  // Sends `n` bytes and waits until the kernel holds them for the stream.
  bool arrived(std::size_t n) {
    send(n);
    return eventually([&] { return queued() == static_cast<int>(n); });
  }

  // Waits for readability, woken once `mark` bytes have come.
  void wait_for(std::size_t mark) {
    stream->wake_after(mark);
    stream->async_wait_readable(user);
  }

  // Runs what is ready now, without waiting: the wait has ended if it
  // completed here.
  bool woken_now() {
    io.poll();
    io.restart();
    return user->woken > 0;
  }

  bool woken_within(std::chrono::milliseconds timeout) {
    return eventually([&] { return woken_now(); }, timeout);
  }
};

TEST(tcp_stream, a_wait_for_more_bytes_ends_once_they_have_come_and_not_before) {
  link l;
  l.wait_for(64 * 1024);
  ASSERT_TRUE(l.arrived(1000));
  EXPECT_FALSE(l.woken_now()) << "woken with 1,000 of the 65,536 bytes asked for";
  l.send(64 * 1024 - 1000);
  EXPECT_TRUE(l.woken_within(patience));
  EXPECT_FALSE(l.user->last);
}

TEST(tcp_stream, reading_takes_what_has_come_whatever_the_mark) {
  link l;
  l.stream->wake_after(64 * 1024);
  ASSERT_TRUE(l.arrived(1000));
  std::string into(64 * 1024, '\0');
  std::error_code ec;
  EXPECT_EQ(l.stream->read_some(into, ec), 1000u);
  EXPECT_FALSE(ec);
}

TEST(tcp_stream, lowering_the_mark_below_what_has_come_ends_the_wait) {
  // What a connection's checks do, so that a slow link's bytes are seen.
  link l;
  l.wait_for(64 * 1024);
  ASSERT_TRUE(l.arrived(1000));
  ASSERT_FALSE(l.woken_now());
  l.stream->wake_after(1);
  EXPECT_TRUE(l.woken_within(patience));
}

TEST(tcp_stream, a_peer_hanging_up_short_of_the_mark_ends_the_wait) {
  link l;
  l.wait_for(64 * 1024);
  l.send(1000);
  l.peer.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(l.woken_within(patience));
}

} // namespace
} // namespace socketengine
