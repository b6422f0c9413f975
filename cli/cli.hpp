#pragma once
// The `socketengine` command line: what its subcommands share.

#include <chrono>
#include <csignal>
#include <pthread.h>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <socketengine/socketengine.hpp>

namespace socketengine::cli {

/// Exit statuses, as the --help footer lists them.
enum exit_status : int {
  exit_ok = 0,
  exit_failure = 1,   // the peer cannot be reached, a port cannot be listened on, ...
  exit_usage = 2,     // a bad option, address, port, JSON value or format
  exit_timed_out = 3, // get: no value in time; listen --count: too few before --timeout
  exit_interrupted = 130, // Ctrl-C or SIGTERM before the work was done, as shells count it
};

/// What ends the program: one line on stderr, and `status`.
class error : public std::runtime_error {
public:
  error(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  [[nodiscard]] int status() const noexcept { return status_; }

private:
  int status_;
};

/// A peer to dial: HOST:PORT, [IPv6]:PORT, HOST (port 8080, the seed's), PORT
/// alone (on 127.0.0.1), unix:PATH, or @NAME (a hub found by discovery).
struct address {
  std::string host;
  std::uint16_t port = 8080;
  bool unix_socket = false; // host is then the whole "unix:PATH" endpoint
  bool by_name = false;     // host is then the hub's name
  [[nodiscard]] std::string text() const;
};
/// `default_port` when the text names none (a peer's is the seed's 8080,
/// a broker's MQTT's 1883). \throws error(exit_usage) naming what is wrong.
address parse_address(std::string_view text, std::uint16_t default_port = 8080);

/// A TCP port: 0..65535. \throws error(exit_usage).
std::uint16_t parse_port(std::string_view text);

/// Options every subcommand takes.
struct common_options {
  bool legacy = false;                // speak only the socket.engine 0.3 protocol
  std::string name = "socketengine-cli"; // the name a dial announces
  double connect_timeout = 5;         // seconds a dial keeps trying
  std::string token_file, token_env;  // token authentication
  bool allow_legacy = false;
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  bool tls_no_verify = false;
  bool redial = false;                // redial a lost link (watch)
  std::string hub_name;               // answer discovery as this name (listening subcommands)
};

/// A hub set up as `o` says: listening on `port` at `bind` (and on
/// `unix_path` if not empty), or only dialling when `port` is empty and
/// `unix_path` too. \throws error(exit_failure or exit_usage) saying why.
std::unique_ptr<hub> make_hub(const common_options& o, std::optional<std::uint16_t> port,
                              const std::string& bind, const std::string& unix_path);

class stop_signal;
/// Dials `to` from `h`; a signal (`stop`) abandons it.
/// \throws error(exit_failure) with the reason, error(exit_interrupted).
std::shared_ptr<connection> dial(hub& h, const address& to, const common_options& o,
                                 stop_signal& stop);

/// A value given on the command line: JSON if it parses as JSON; an error
/// if it looks like JSON (starts with `{`, `[` or `"`) and does not parse;
/// otherwise the text as a string. `as_string`: always the text.
/// \throws error(exit_usage) saying where the JSON went wrong.
value parse_value(std::string_view text, bool as_string);

/// Seconds as a duration. \throws error(exit_usage) for a negative or
/// absurd figure.
std::chrono::milliseconds seconds(double s, std::string_view option);

/// Waits for SIGINT, SIGTERM or wake(). Made first in main(), before any
/// thread: it blocks those signals in every thread, so that only wait_until()
/// receives them.
class stop_signal {
public:
  stop_signal();
  /// Waits until a signal, wake() or `deadline`. True unless the deadline
  /// passed. A deadline already past still takes a pending signal.
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  /// Takes a pending signal without waiting: wait_until(now).
  bool poll() { return wait_until(std::chrono::steady_clock::now()); }
  bool wait() { return wait_until(std::chrono::steady_clock::time_point::max()); }
  /// Ends a wait_until(), now or the next one. Any thread.
  void wake() noexcept;
  /// Whether SIGINT or SIGTERM came, and which came last.
  [[nodiscard]] bool interrupted() const noexcept { return interrupted_; }
  [[nodiscard]] int last_signal() const noexcept { return last_signal_; }

private:
  sigset_t set_{};
  pthread_t main_thread_;
  bool interrupted_ = false;
  int last_signal_ = 0;
};

// The subcommands: each returns the exit status. Their arguments are filled
// in by main() from the command line.

struct listen_args {
  std::uint16_t port = 8080;
  std::string bind = "0.0.0.0";
  std::string unix_path;
  std::string format; // fmt-style, with {peer} {channel} {value} {size} {time}
  bool json = false;
  std::uint64_t count = 0; // 0: no end
  double timeout = 0;      // 0: no end
  bool all = false;        // the protocol's own channels too
};
int run_listen(const listen_args& a, const common_options& o, stop_signal& stop);

struct send_args {
  std::string address;
  std::string channel;
  std::string value;
  bool has_value = false;
  bool as_string = false;
  std::string image_file;
  std::string encoding; // png, jpeg, raw; empty: the engine's default
  int jpeg_quality = 90;
  std::uint64_t repeat = 1; // 0: until interrupted
  double rate = 0;          // per second; 0: as fast as the link takes them
  bool report = false;      // print the achieved rate and the pacing jitter
};
int run_send(const send_args& a, const common_options& o, stop_signal& stop);

struct get_args {
  std::string address;
  std::string channel;
  double timeout = 5;
  bool pretty = false;
};
int run_get(const get_args& a, const common_options& o, stop_signal& stop);

struct watch_args {
  std::string address;                // dial this, or
  std::optional<std::uint16_t> port;  // listen here
  std::string bind = "0.0.0.0";
  double interval = 0.25; // seconds between redraws
  double timeout = 0;     // 0: until interrupted
  bool all = false;       // the protocol's own channels too
};
int run_watch(const watch_args& a, const common_options& o, stop_signal& stop);

struct bridge_args {
  std::string broker;                   // an ADDRESS; port 1883 unless it says
  std::string hub_name;                 // the second topic level
  std::optional<std::uint16_t> port;    // listen here for peers
  std::string bind = "0.0.0.0";
  std::vector<std::string> connect;     // and dial these
  std::string prefix = "socketengine";
  std::vector<std::string> peers, channels;
  std::vector<std::string> inbound;     // FILTER or FILTER=PEER
  bool no_images = false;
  std::string image_format = "jpeg";
  std::size_t max_image_bytes = std::size_t{4} << 20;
  double image_interval = 0;
  int qos = 1;
  std::string client_id, username, password_env;
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key;
  double timeout = 0;                   // 0: until interrupted
};

int run_bridge(const bridge_args& a, const common_options& o, stop_signal& stop);

struct view_args {
  std::uint16_t port = 8765;            // the page's
  std::string bind = "127.0.0.1";
  std::vector<std::string> connect;     // peers to dial
  std::optional<std::uint16_t> listen;  // and a port they may dial
  std::string listen_bind = "0.0.0.0";
  std::string frames = "jpeg";          // jpeg or png
  int jpeg_quality = 80;
  std::size_t max_clients = 64;
  double write_timeout = 10;
  double timeout = 0;                   // 0: until interrupted
  bool all = false;
};
int run_view(const view_args& a, const common_options& o, stop_signal& stop);

struct discover_args {
  double timeout = 1;
  std::string name;                    // only hubs of this name
  std::vector<std::string> peers;      // asked by unicast too
  std::vector<std::string> interfaces; // the multicast query goes out of these
  bool no_multicast = false;
  bool json = false;
};
int run_discover(const discover_args& a, const common_options& o, stop_signal& stop);

struct bench_args {
  bool quick = false;
  std::string only;
};
int run_bench(const bench_args& a, const common_options& o, stop_signal& stop);

} // namespace socketengine::cli
