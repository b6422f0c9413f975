// The TLS stream's own work outlives nothing it needs. A direct write
// (try_write) encrypts a whole record under the stream's lock; what the
// socket does not take at once is sent later from the I/O thread, by work
// the stream itself started. A connection that closes meanwhile must not
// destroy the stream under that work: the stream says it is not idle()
// until the work has ended, then calls on_stream_idle(). Here a user that
// does what a connection does (destroy the stream once closed and idle)
// closes it mid-record; under AddressSanitizer any use after that
// destruction is a report.

#include <gtest/gtest.h>

#include <asio.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include "support/certificates.hpp"
#include "support/test_support.hpp"
#include "transport/tls/config.hpp"
#include "transport/tls/handshake.hpp"

namespace socketengine {
namespace {

using detail::transport::stream;
using detail::transport::stream_user;
using detail::transport::tls::config;
using detail::transport::tls::handshake;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

// Owns the stream as a connection does: destroys it only once it is closed
// and idle, on the I/O thread.
class owner final : public stream_user {
public:
  void on_readable(std::error_code) override {}
  void on_written(std::error_code, std::size_t) override {}
  void on_stream_idle() override {
    ++told_idle;
    release();
  }
  void release() {
    if (closed && s && s->idle()) s.reset();
  }

  std::unique_ptr<stream> s;
  bool closed = false;
  int told_idle = 0;
};

// A TLS link over loopback whose listening end never reads, with buffers
// so small on both sides that a record of 16 KiB fills them.
struct stuck_link {
  test::certificates certs;
  asio::io_context io;
  std::unique_ptr<stream> dialled, accepted;
  std::shared_ptr<handshake> dialling, accepting;

  stuck_link() {
    tls_options server_options;
    server_options.enabled = true;
    server_options.certificate_file = certs.cert("server");
    server_options.private_key_file = certs.key("server");
    tls_options client_options;
    client_options.enabled = true;
    client_options.ca_file = certs.cert("ca");
    config server(server_options, "test", 1), client(client_options, "test", 1);

    tcp::acceptor acceptor(io, tcp::v4());
    acceptor.set_option(asio::socket_base::receive_buffer_size(4096));
    acceptor.bind({asio::ip::address_v4::loopback(), 0});
    acceptor.listen();
    tcp::socket socket(io, tcp::v4());
    socket.set_option(asio::socket_base::send_buffer_size(4096));
    socket.connect(acceptor.local_endpoint());
    tcp::socket peer = acceptor.accept();

    accepting = handshake::accept(std::move(peer), server, {"127.0.0.1", 0},
                                  [this](std::error_code ec, std::unique_ptr<stream> s) {
                                    EXPECT_FALSE(ec) << ec.message();
                                    accepted = std::move(s);
                                  });
    std::error_code ec;
    dialling = handshake::dial(
        std::move(socket), client, {"127.0.0.1", 0}, "127.0.0.1",
        [this](std::error_code ec, std::unique_ptr<stream> s) {
          EXPECT_FALSE(ec) << ec.message();
          dialled = std::move(s);
        },
        ec);
    EXPECT_FALSE(ec) << ec.message();
    auto deadline = std::chrono::steady_clock::now() + test::patience;
    while ((!dialled || !accepted) && std::chrono::steady_clock::now() < deadline)
      io.run_one_for(100ms);
  }
};

enum class closed_when { before_the_pump_runs, while_the_rest_is_sent };

class tls_stream_close : public ::testing::TestWithParam<closed_when> {};

TEST_P(tls_stream_close, mid_record_waits_for_the_streams_own_work_before_it_is_destroyed) {
  stuck_link link;
  ASSERT_TRUE(link.dialled && link.accepted);
  auto user = std::make_shared<owner>();
  user->s = std::move(link.dialled);
  user->s->async_wait_readable(user); // as a connection: the stream knows its user

  // Records until one is taken only in part: its rest is the stream's own
  // work from then on.
  const std::string record(user->s->try_write_limit(), 'x');
  int records = 0;
  while (user->s->idle() && records < 1000) {
    ASSERT_EQ(user->s->try_write(record), record.size()) << "record " << records;
    ++records;
  }
  ASSERT_FALSE(user->s->idle()) << "the buffers took " << records << " records whole";
  if (GetParam() == closed_when::while_the_rest_is_sent) {
    link.io.poll(); // the posted pump starts the send, which waits for room
    ASSERT_FALSE(user->s->idle());
  }

  user->s->close();
  user->closed = true;
  user->release();
  ASSERT_TRUE(user->s) << "destroyed with its own work still under way";

  auto deadline = std::chrono::steady_clock::now() + test::patience;
  while (user->s && std::chrono::steady_clock::now() < deadline) link.io.run_one_for(100ms);
  EXPECT_FALSE(user->s) << "never said it was idle";
  EXPECT_EQ(user->told_idle, 1);
  link.io.poll(); // whatever is still due runs on a stream that is gone
}

INSTANTIATE_TEST_SUITE_P(, tls_stream_close,
                         ::testing::Values(closed_when::before_the_pump_runs,
                                           closed_when::while_the_rest_is_sent),
                         [](const auto& info) {
                           return info.param == closed_when::before_the_pump_runs
                                      ? std::string("before_the_pump_runs")
                                      : std::string("while_the_rest_is_sent");
                         });

} // namespace
} // namespace socketengine
