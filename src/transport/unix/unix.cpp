#include "transport/unix/unix.hpp"

#include <asio.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "transport/socket_dialer.hpp"
#include "transport/socket_listener.hpp"
#include "transport/socket_stream.hpp"
#include "transport/system.hpp"

namespace socketengine::detail::transport::unix_socket {

namespace {

using protocol_type = asio::local::stream_protocol;
constexpr std::string_view scheme = "unix:";

// What fits in sockaddr_un::sun_path, with its terminating zero.
constexpr std::size_t max_path = sizeof(sockaddr_un::sun_path) - 1;

// A socket's send buffer is all a Unix stream holds in flight (there is no
// network between). At the default (about 200 KiB) a 640x480 raw frame
// takes five rounds of the writer filling it and the reader emptying it,
// each a pair of wake-ups; at 4 MiB it goes in one. The system caps the
// request at net.core.wmem_max (Linux's default, 208 KiB, leaves it where
// it was); it is memory the kernel uses only while bytes wait.
void set_send_buffer(protocol_type::socket& socket) {
  std::error_code ignored;
  socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ignored);
}

std::error_code check_path(std::string_view path) {
  if (path.empty()) return std::make_error_code(std::errc::invalid_argument);
  if (path.size() > max_path) return std::make_error_code(std::errc::filename_too_long);
  return {};
}

class unix_listener final : public socket_listener<protocol_type> {
public:
  unix_listener(protocol_type::acceptor acceptor, std::string path, struct stat made)
      : socket_listener(std::move(acceptor)), path_(std::move(path)), made_(made) {}

  ~unix_listener() override { close(); }

  void close() noexcept override {
    socket_listener::close();
    if (removed_) return;
    removed_ = true;
    // Only the file this listener made: another process may have replaced
    // it since (after deciding it was stale), and its socket must stay.
    struct stat now {};
    if (::lstat(path_.c_str(), &now) == 0 && now.st_dev == made_.st_dev &&
        now.st_ino == made_.st_ino)
      ::unlink(path_.c_str());
  }

  [[nodiscard]] std::string name() const override { return std::string(scheme) + path_; }

private:
  bool admit(protocol_type::socket& socket, peer& who) override {
    set_send_buffer(socket);
    // The peer's end is unnamed: the listening path says where it came.
    who = {name(), 0};
    return true;
  }

  std::string path_;
  struct stat made_;
  bool removed_ = false;
};

std::error_code last_error() { return {errno, std::system_category()}; }

bool same_file(const struct stat& a, const struct stat& b) noexcept {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// What is at `path` now, for a listener about to take it.
enum class occupant { nothing, stale, live };

// A socket file at `path` is live if a listener answers there (a busy one
// answers too: its full backlog refuses us with EAGAIN, which Asio reports
// as no_buffer_space), stale if nobody does (its process died without
// removing it). The probe is a real connection: a listening socketengine
// engine sees a peer come and go.
occupant probe(asio::io_context& io, const std::string& path, std::error_code& ec) {
  protocol_type::socket s(io);
  s.open(protocol_type(), ec);
  if (!ec) s.non_blocking(true, ec);
  if (!ec) s.connect(protocol_type::endpoint(path), ec);
  auto e = portable(ec);
  ec.clear();
  if (!e || e == std::errc::no_buffer_space || e == std::errc::resource_unavailable_try_again)
    return occupant::live;
  if (e == std::errc::connection_refused) return occupant::stale;
  if (e == std::errc::no_such_file_or_directory) return occupant::nothing; // gone since we looked
  ec = e;
  return occupant::nothing;
}

// Clears the way to `path`: nothing there, or a stale socket file, which is
// removed. Refuses a live socket and any other kind of file.
bool clear_the_way(asio::io_context& io, const std::string& path, std::error_code& ec,
                   std::string& what) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) != 0) return true;
  if (!S_ISSOCK(existing.st_mode)) {
    ec = std::make_error_code(std::errc::file_exists);
    what += ": a file that is not a socket is in the way";
    return false;
  }
  auto there = probe(io, path, ec);
  if (ec) return false;
  if (there == occupant::live) {
    ec = std::make_error_code(std::errc::address_in_use);
    what += ": another process is listening there";
    return false;
  }
  if (there == occupant::stale) {
    // Only the file found stale: another process may have put a live one
    // in its place since.
    struct stat now {};
    if (::lstat(path.c_str(), &now) == 0 && same_file(now, existing) &&
        ::unlink(path.c_str()) != 0 && errno != ENOENT) {
      ec = last_error();
      what += ": cannot remove the stale socket file";
      return false;
    }
  }
  return true;
}

// A name beside `path` for the socket to be made under before it is
// published; empty if none fits in a socket address.
std::string staging_name(const std::string& path) {
  static std::atomic<unsigned> made{0};
  auto name = path + ".~" + std::to_string(::getpid()) + "-" + std::to_string(++made);
  return name.size() > max_path ? std::string() : name;
}

std::unique_ptr<listener> listen(asio::io_context& io, const listen_request& request,
                                 std::error_code& ec, std::string& what) {
  std::string path(request.address.substr(scheme.size()));
  what = "cannot listen on " + request.address;
  if ((ec = check_path(path))) {
    what += path.empty() ? ": no path" : ": longer than " + std::to_string(max_path) + " bytes";
    return nullptr;
  }
  if (!clear_the_way(io, path, ec, what)) return nullptr;

  // The socket is made under a name of its own, given its mode, set
  // listening, and only then linked to `path`: nobody finds the path before
  // it answers with the right permissions, and a process that published
  // its own socket there meanwhile keeps it (link fails where a file
  // exists). Where no such name fits, the socket is made in place, its mode
  // set before it listens, so that nobody connects under the umask's bits.
  const auto staged = staging_name(path);
  const auto& made_at = staged.empty() ? path : staged;
  protocol_type::acceptor acceptor(io);
  acceptor.open(protocol_type(), ec);
  if (!ec) set_cloexec(acceptor.native_handle());
  if (!ec) acceptor.bind(protocol_type::endpoint(made_at), ec);
  if (ec) {
    ec = portable(ec);
    return nullptr;
  }
  struct stat made {};
  auto undo = [&](std::error_code why) {
    ec = why;
    struct stat now {};
    if (::lstat(made_at.c_str(), &now) == 0 && same_file(now, made)) ::unlink(made_at.c_str());
    return nullptr;
  };
  if (::lstat(made_at.c_str(), &made) != 0) return undo(last_error());
  if (request.file_mode && ::chmod(made_at.c_str(), static_cast<mode_t>(*request.file_mode)) != 0)
    return undo(last_error());
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return undo(portable(ec));
  if (!staged.empty()) {
    if (::link(staged.c_str(), path.c_str()) != 0) {
      auto why = last_error();
      if (why == std::errc::file_exists) {
        why = std::make_error_code(std::errc::address_in_use);
        what += ": another process is listening there";
      }
      return undo(why);
    }
    ::unlink(staged.c_str());
  }
  what.clear();
  return std::make_unique<unix_listener>(std::move(acceptor), std::move(path), made);
}

class unix_dialer final : public socket_dialer<protocol_type> {
public:
  unix_dialer(asio::io_context& io, std::string address)
      : socket_dialer(io), address_(std::move(address)), path_(address_.substr(scheme.size())) {}

  void async_connect(done_fn done) override {
    begin(std::move(done));
    std::error_code ignored;
    socket_.close(ignored); // a failed attempt leaves it open
    socket_.async_connect(protocol_type::endpoint(path_), [this](std::error_code ec) {
      if (ec) return failed(ec);
      set_send_buffer(socket_);
      connected(peer{address_, 0});
    });
  }

  [[nodiscard]] bool worth_retrying(std::error_code ec) const noexcept override {
    // Refused: a stale socket file, its listener not back yet; missing: the
    // peer has not made its socket yet; no buffer space (EAGAIN, as Asio
    // reports it): a listener whose backlog is full.
    return ec == std::errc::connection_refused || ec == std::errc::no_such_file_or_directory ||
           ec == std::errc::no_buffer_space || ec == std::errc::resource_unavailable_try_again;
  }

private:
  std::string address_;
  std::string path_;
};

// TLS is for TCP only: a socket file's mode guards it (tls_options).
std::unique_ptr<dialer> dial(asio::io_context& io, const dial_request& request,
                             std::error_code& ec) {
  if ((ec = check_path(request.address.substr(scheme.size())))) return nullptr;
  return std::make_unique<unix_dialer>(io, std::string(request.address));
}

} // namespace

const transport_ops ops{scheme, &listen, &dial};

} // namespace socketengine::detail::transport::unix_socket
