#include "cli.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace socketengine::cli {

// --- addresses ---------------------------------------------------------------

std::string address::text() const {
  if (unix_socket) return host;
  if (by_name) return "@" + host;
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::uint16_t parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535)
    throw error(exit_usage, fmt::format("bad port \"{}\": a number from 0 to 65535", text));
  return static_cast<std::uint16_t>(value);
}

address parse_address(std::string_view text, std::uint16_t default_port) {
  address a;
  a.port = default_port;
  if (text.starts_with("unix:")) {
    if (text.size() == 5) throw error(exit_usage, "bad address \"unix:\": the socket's path is missing");
    a.host = std::string(text);
    a.unix_socket = true;
    return a;
  }
  if (text.empty()) throw error(exit_usage, "an empty address");
  if (text.front() == '@') {
    if (text.size() == 1) throw error(exit_usage, "bad address \"@\": the hub's name is missing");
    a.host = std::string(text.substr(1));
    a.by_name = true;
    return a;
  }
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    a.host = "127.0.0.1";
    a.port = parse_port(text);
    return a;
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      throw error(exit_usage, fmt::format("bad address \"{}\": no ']' after the IPv6 address", text));
    a.host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        throw error(exit_usage, fmt::format("bad address \"{}\": ':' must follow ']'", text));
      a.port = parse_port(rest.substr(1));
    }
    return a;
  }
  auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.find(':') != colon) {
    // More than one colon: an IPv6 address without a port.
    a.host = std::string(text);
    return a;
  }
  a.host = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) a.port = parse_port(text.substr(colon + 1));
  if (a.host.empty()) throw error(exit_usage, fmt::format("bad address \"{}\": no host", text));
  return a;
}

// --- engines -----------------------------------------------------------------

std::chrono::milliseconds seconds(double s, std::string_view option) {
  if (!std::isfinite(s) || s < 0 || s > 1e9)
    throw error(exit_usage, fmt::format("{} must be a number of seconds, 0 or more", option));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(s * 1000)));
}

std::unique_ptr<hub> make_hub(const common_options& o, std::optional<std::uint16_t> port,
                              const std::string& bind, const std::string& unix_path) {
  hub_options h;
  h.port = port;
  h.bind_address = bind;
  h.listen = port.has_value();
  if (!unix_path.empty()) h.listen_on.push_back("unix:" + unix_path);
  h.native = !o.legacy;
  h.name = o.hub_name;
  // A lost link is the end of the command, said at once, rather than
  // writes held while redialling (watch asks for redialling itself).
  h.reconnect.enabled = o.redial;
  h.connect_timeout = seconds(o.connect_timeout, "--connect-timeout");
  h.auth.token_file = o.token_file;
  h.auth.token_env = o.token_env;
  h.auth.allow_legacy = o.allow_legacy;
  if (o.tls) {
    h.tls.enabled = true;
    h.tls.ca_file = o.tls_ca;
    h.tls.certificate_file = o.tls_cert;
    h.tls.private_key_file = o.tls_key;
    h.tls.server_name = o.tls_server_name;
    h.tls.verify_peer = !o.tls_no_verify;
  }
  try {
    return std::make_unique<hub>(std::move(h));
  } catch (const std::invalid_argument& e) {
    throw error(exit_usage, e.what());
  } catch (const std::system_error& e) {
    if (port || !unix_path.empty()) {
      std::string where = port ? fmt::format("port {}", *port) : std::string();
      if (!unix_path.empty()) where += (where.empty() ? "" : " and ") + unix_path;
      throw error(exit_failure, fmt::format("cannot listen on {}: {}", where, e.what()));
    }
    throw error(exit_failure, e.what());
  }
}

std::shared_ptr<connection> dial(hub& h, const address& to, const common_options& o,
                                 stop_signal& stop) {
  std::error_code ec;
  if (to.by_name) {
    // The connection takes the hub's name, not --name: it names the hub dialled.
    discover_options ask;
    ask.timeout = seconds(o.connect_timeout, "--connect-timeout");
    std::shared_ptr<connection> c;
    try {
      c = h.connect_by_name(to.host, ec, ask);
    } catch (const std::invalid_argument& e) {
      throw error(exit_usage, e.what());
    }
    if (!c) {
      std::string why = ec == errc::hub_not_found
                            ? fmt::format("no hub of that name answered within {} s "
                                          "(--connect-timeout)",
                                          o.connect_timeout)
                            : ec.message();
      throw error(exit_failure, fmt::format("cannot connect to {}: {}", to.text(), why));
    }
    return c;
  }
  // Ctrl-C ends a dial that keeps trying, as it ends everything else.
  auto c = to.unix_socket ? h.connect(o.name, to.host, ec)
                          : h.connect(o.name, to.host, to.port, ec, [&] { return !stop.poll(); });
  if (!c && stop.interrupted()) throw error(exit_interrupted, "interrupted while connecting");
  if (!c) {
    std::string why = ec.message();
    if (ec == errc::connect_timeout)
      why = fmt::format("nothing answered within {} s (--connect-timeout)", o.connect_timeout);
    throw error(exit_failure, fmt::format("cannot connect to {}: {}", to.text(), why));
  }
  return c;
}

// --- values ------------------------------------------------------------------

value parse_value(std::string_view text, bool as_string) {
  if (as_string) return value(std::string(text));
  try {
    return value::parse(text);
  } catch (const value::parse_error& e) {
    auto first = text.find_first_not_of(" \t\r\n");
    bool looks_like_json = first != std::string_view::npos &&
                           (text[first] == '{' || text[first] == '[' || text[first] == '"');
    if (!looks_like_json) return value(std::string(text));
    std::string why = e.what();
    // "[json.exception.parse_error.101] parse error at ...": the part after
    // the bracket says it.
    if (auto bracket = why.find("] "); bracket != std::string::npos) why.erase(0, bracket + 2);
    throw error(exit_usage, fmt::format("the value is not valid JSON ({}); --string sends it as "
                                        "text",
                                        why));
  }
}

// --- signals -----------------------------------------------------------------

stop_signal::stop_signal() : main_thread_(pthread_self()) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

bool stop_signal::wait_until(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    siginfo_t info{};
    int sig = 0;
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      sig = sigwaitinfo(&set_, &info);
    } else {
      // A deadline already past still takes a signal that is pending: a
      // caller that polls with now() must see Ctrl-C too.
      auto left = std::max(deadline - std::chrono::steady_clock::now(),
                           std::chrono::steady_clock::duration::zero());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      sig = sigtimedwait(&set_, &info, &ts);
    }
    if (sig < 0) {
      if (errno == EINTR) continue;
      return false; // EAGAIN: the deadline passed
    }
    if (sig != SIGUSR1) {
      interrupted_ = true;
      last_signal_ = sig;
    }
    return true;
  }
}

void stop_signal::wake() noexcept { pthread_kill(main_thread_, SIGUSR1); }

} // namespace socketengine::cli
