#include "transport/system.hpp"

#include <asio/error.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace socketengine::detail::transport {

std::error_code portable(std::error_code ec) {
  if (ec.category() == asio::error::get_system_category())
    return {ec.value(), std::system_category()};
  return ec;
}

void set_cloexec(int fd) noexcept {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

void tcp_keep_alive(int fd, const keepalive_options& o) noexcept {
  auto set = [fd](int level, int name, long long v) {
    int i = static_cast<int>(std::clamp<long long>(v, 0, 0x7fffffff));
    ::setsockopt(fd, level, name, &i, sizeof i);
  };
  if (o.tcp_keepalive_idle.count() > 0) {
    set(IPPROTO_TCP, TCP_KEEPIDLE, o.tcp_keepalive_idle.count());
    set(IPPROTO_TCP, TCP_KEEPINTVL, std::max<long long>(o.tcp_keepalive_interval.count(), 1));
    set(IPPROTO_TCP, TCP_KEEPCNT, std::max(o.tcp_keepalive_count, 1));
    set(SOL_SOCKET, SO_KEEPALIVE, 1);
  }
  if (o.tcp_user_timeout.count() > 0) set(IPPROTO_TCP, TCP_USER_TIMEOUT, o.tcp_user_timeout.count());
}

} // namespace socketengine::detail::transport
