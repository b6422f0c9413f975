#include "transport/system.hpp"

#include <asio/error.hpp>

#include <fcntl.h>

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

} // namespace socketengine::detail::transport
