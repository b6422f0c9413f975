#pragma once
// Network namespaces for the discovery tests: each test makes its own
// small network of namespaces joined by veth pairs (as root), runs hubs
// inside them, and removes it all when done. Nothing the tests send can
// leave these namespaces: they hold no interface but their veth ends and
// their own loopback.
//
// A thread enters a namespace with setns(); threads it then starts (a
// hub's I/O and callback threads) are born in it, and sockets it opens
// belong to it. `inside` puts the calling thread back on leaving.

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace socketengine::test {

/// Runs `command` with the shell; throws naming it when it fails.
inline void run_command(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  if (rc != 0) {
    // Once more with its stderr shown, so the test log says why.
    std::system(command.c_str());
    throw std::runtime_error("command failed (status " + std::to_string(rc) + "): " + command);
  }
}

/// A network namespace, `ip netns add`-ed, with its loopback up.
class netns {
public:
  explicit netns(std::string name) : name_(std::move(name)) {
    std::system(("ip netns delete " + name_ + " >/dev/null 2>&1").c_str()); // a leftover
    run_command("ip netns add " + name_);
    run_command("ip -n " + name_ + " link set lo up");
    fd_ = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::system_error(errno, std::system_category(), "open netns " + name_);
  }
  ~netns() {
    ::close(fd_);
    std::system(("ip netns delete " + name_ + " >/dev/null 2>&1").c_str());
  }
  netns(const netns&) = delete;
  netns& operator=(const netns&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Runs `command` inside this namespace (`ip netns exec`).
  void exec(const std::string& command) const {
    run_command("ip netns exec " + name_ + " " + command);
  }

private:
  std::string name_;
  int fd_ = -1;
};

/// Joins `a` and `b` with a veth pair: interface `if_a` in `a` with
/// `addr_a` (CIDR, "10.0.0.1/24"), `if_b` in `b` with `addr_b`, both up.
inline void veth(const netns& a, const std::string& if_a, const std::string& addr_a,
                 const netns& b, const std::string& if_b, const std::string& addr_b) {
  run_command("ip link add " + if_a + " netns " + a.name() + " type veth peer name " + if_b +
              " netns " + b.name());
  run_command("ip -n " + a.name() + " addr add " + addr_a + " dev " + if_a);
  run_command("ip -n " + b.name() + " addr add " + addr_b + " dev " + if_b);
  run_command("ip -n " + a.name() + " link set " + if_a + " up");
  run_command("ip -n " + b.name() + " link set " + if_b + " up");
}

/// While it lives, the calling thread is inside `ns`.
class inside {
public:
  explicit inside(const netns& ns) : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (home_ < 0) throw std::system_error(errno, std::system_category(), "open own netns");
    if (::setns(ns.fd(), CLONE_NEWNET) != 0) {
      ::close(home_);
      throw std::system_error(errno, std::system_category(), "setns " + ns.name());
    }
  }
  ~inside() {
    if (::setns(home_, CLONE_NEWNET) != 0) std::abort(); // the test would run on in the wrong place
    ::close(home_);
  }
  inside(const inside&) = delete;
  inside& operator=(const inside&) = delete;

private:
  int home_;
};

} // namespace socketengine::test
