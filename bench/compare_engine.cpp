// socketengine cases of socketengine-bench, through the public API only:
// a receiving hub (port 0, plain or over TLS, or a socket file) and a
// sending hub that dials it, each with an engine of its own, in this
// process; and the idle-connection memory, with the connections dialled
// from a child process.

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>

#include <socketengine/socketengine.hpp>

#include "compare.hpp"
#include "throwaway_certificate.hpp"

extern char** environ;

namespace compare {

namespace {

using socketengine::connection;
using socketengine::hub;
using socketengine::image;
using socketengine::value;

// The first problem either hub reports to its error handler. Nothing should
// be reported at all: a report fails the case, because a dropped message or
// a refused frame would make the figures wrong.
class problem_log {
public:
  socketengine::error_handler handler(std::string who) {
    return [this, who = std::move(who)](const std::shared_ptr<connection>&, std::error_code ec,
                                        const std::string& detail) {
      add(who + ": " + ec.message() + (detail.empty() ? "" : ": " + detail));
    };
  }
  void add(const std::string& why) {
    std::lock_guard lk(mu_);
    if (first_.empty()) first_ = why;
  }
  void check() const {
    std::lock_guard lk(mu_);
    if (!first_.empty()) throw failure("socketengine reported an error: " + first_);
  }

private:
  mutable std::mutex mu_;
  std::string first_;
};

// The run's key and certificate for 127.0.0.1, made on first use.
struct run_certificate {
  std::string certificate_file = run_path("tls-certificate.pem");
  std::string private_key_file = run_path("tls-key.pem");
  run_certificate() {
    bench::write_throwaway_certificate(certificate_file, private_key_file, "127.0.0.1");
  }
};

// TLS as a user would set it up over `over` (nothing but over link::tls):
// the listening hub presents the run's certificate; the dialling one
// trusts it as its CA and verifies it, and that it names the address
// dialled, as it does by default.
socketengine::tls_options tls_over(link over, bool listening) {
  if (over != link::tls) return {};
  static const run_certificate made;
  if (listening)
    return {.enabled = true,
            .certificate_file = made.certificate_file,
            .private_key_file = made.private_key_file};
  return {.enabled = true, .ca_file = made.certificate_file};
}

// A receiving hub and a sending hub connected to it. The log is declared
// first so that it outlives both hubs' callback threads.
struct hub_pair {
  problem_log log;
  hub receiver;
  hub sender;
  std::shared_ptr<connection> out; // the sender's connection
  std::shared_ptr<connection> in;  // the receiver's connection, the same link

  hub_pair(bool native, link over, socketengine::image_options images = {})
      : receiver({.port = 0,
                  .listen = over != link::unix_socket,
                  .native = native,
                  .tls = tls_over(over, true)}),
        // Every message is to arrive, as with the others measured: the
        // writer waits at a full queue rather than conflating.
        sender({.listen = false,
                .native = native,
                .limits = {.on_full_queue = socketengine::overflow_policy::block},
                .images = images,
                .tls = tls_over(over, false)}) {
    receiver.on_error(log.handler("receiving hub"));
    sender.on_error(log.handler("sending hub"));
    if (over != link::unix_socket) {
      out = sender.connect("bench", "127.0.0.1", receiver.port());
    } else {
      static std::atomic<int> files{0};
      const auto endpoint = "unix:" + run_path("hub-" + std::to_string(++files) + ".sock");
      receiver.listen(endpoint);
      out = sender.connect("bench", endpoint);
    }
    in = receiver.wait_for_connection(patience);
    if (!in) throw failure("socketengine: the receiving hub saw no connection");
    // A round trip before anything is measured: both hubs have then done
    // everything that belongs to the start of a connection (the TLS
    // handshake, the name, and agreeing on the native protocol).
    out->write("ready", true);
    if (!in->wait_for("ready", patience)) throw failure("socketengine: no greeting arrived");
    in->write("ready", true);
    if (!out->wait_for("ready", patience)) throw failure("socketengine: no greeting came back");
    log.check();
  }
};

void raise_open_files() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) throw failure("cannot read /proc/self/statm");
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// This program again, as `--idle-dialer PORT COUNT`, with a pipe for its
// standard input: closing the pipe tells it to hang up and exit.
class dialer_process {
public:
  dialer_process(std::uint16_t port, std::size_t count) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw failure(std::string("pipe: ") + std::strerror(errno));
    stdin_ = fds[1];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    // Standard output is the parent's report: the child keeps off it.
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::string port_arg = std::to_string(port), count_arg = std::to_string(count);
    char arg0[] = "socketengine-bench", arg1[] = "--idle-dialer";
    char* argv[] = {arg0, arg1, port_arg.data(), count_arg.data(), nullptr};
    const int rc = ::posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    if (rc != 0) {
      ::close(stdin_);
      throw failure(std::string("cannot start the dialling process: ") + std::strerror(rc));
    }
  }

  ~dialer_process() {
    if (pid_ > 0) finish(false);
  }
  dialer_process(const dialer_process&) = delete;
  dialer_process& operator=(const dialer_process&) = delete;

  // True once the child has exited (it is then reaped).
  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    status_ = status;
    pid_ = -1;
    return true;
  }

  // Tells the child to exit and waits for it, killing it past the deadline.
  // With `check`, anything but a clean exit is a failure.
  void finish(bool check) {
    if (stdin_ >= 0) ::close(std::exchange(stdin_, -1));
    const auto deadline = clock_type::now() + patience;
    while (!exited() && clock_type::now() < deadline) std::this_thread::sleep_for(10ms);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      pid_ = -1;
      if (check) throw failure("the dialling process did not exit when told to");
    }
    if (check && !(WIFEXITED(status_) && WEXITSTATUS(status_) == 0))
      throw failure("the dialling process failed (see its message above)");
  }

private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = 0;
};

} // namespace

// --- one-way messages --------------------------------------------------------

struct engine_stream::impl {
  impl(bool native, std::size_t payload, link over)
      : native(native), pair(native, over), text(std::string(payload, 'x')),
        bytes(payload, 'x') {}
  bool native;
  hub_pair pair;
  const value text;                      // legacy: a string of `payload` characters
  const std::vector<std::uint8_t> bytes; // native: `payload` bytes
};

engine_stream::engine_stream(bool native, std::size_t payload, link over)
    : impl_(std::make_unique<impl>(native, payload, over)) {}

engine_stream::~engine_stream() = default;

double engine_stream::operator()(std::uint64_t count) {
  auto& p = impl_->pair;
  // The hubs stay connected from one repetition to the next, so the end of
  // this one is the first "end" newer than the last.
  const auto before = p.in->stats().messages_in;
  const auto since = p.in->version("end");
  std::error_code ec;
  const auto start = clock_type::now();
  if (impl_->native) {
    for (std::uint64_t i = 0; i < count && !ec; ++i) p.out->write_bytes("data", impl_->bytes, ec);
  } else {
    for (std::uint64_t i = 0; i < count && !ec; ++i) p.out->write("data", impl_->text, ec);
  }
  if (ec) throw failure("socketengine write: " + ec.message());
  p.out->write("end", count);
  // The engine delivers in order: once "end" is stored, so is every message
  // before it.
  const auto end = p.in->wait_for_next("end", patience, since);
  const auto stop = clock_type::now();
  if (!end) throw failure("socketengine: the end message did not arrive in time");
  const auto arrived = p.in->stats().messages_in - before;
  if (arrived != count + 1)
    throw failure("socketengine: " + std::to_string(arrived) + " messages arrived of " +
                  std::to_string(count + 1) + " sent");
  p.log.check();
  return seconds_between(start, stop);
}

// --- round trips -------------------------------------------------------------

std::vector<double> engine_round_trips(const settings& s, bool native, link over) {
  hub_pair p(native, over);
  std::atomic<bool> stop{false};
  // Side B: every ping goes back on "pong". `since` is the version of the
  // ping answered last: side A sends the next only after the pong, so the
  // version read after a wait is the one of the value it returned. It
  // starts at 0, not at version("ping"): the first ping may be in before
  // this thread runs.
  worker echo([&] {
    std::uint64_t since = 0;
    auto deadline = clock_type::now() + patience;
    while (!stop.load()) {
      auto ping = p.in->wait_for_next("ping", 100ms, since);
      if (!ping) {
        if (clock_type::now() > deadline) throw failure("socketengine: no ping arrived in time");
        continue;
      }
      since = p.in->version("ping");
      p.in->write("pong", *ping);
      deadline = clock_type::now() + patience;
    }
  });

  std::vector<double> samples;
  samples.reserve(s.rtt_samples);
  try {
    for (std::uint64_t i = 0; i < s.rtt_warmup + s.rtt_samples; ++i) {
      const auto since = p.out->version("pong");
      const auto t0 = clock_type::now();
      p.out->write("ping", i);
      const auto pong = p.out->wait_for_next("pong", patience, since);
      const auto t1 = clock_type::now();
      if (!pong) throw failure("socketengine: no pong in time");
      if (*pong != i) throw failure("socketengine: the pong is not the ping");
      if (i >= s.rtt_warmup) samples.push_back(seconds_between(t0, t1) * 1e6);
    }
  } catch (...) {
    stop = true;
    echo.join_quietly();
    throw;
  }
  stop = true;
  echo.join();
  p.log.check();
  return samples;
}

// --- frames ------------------------------------------------------------------

frame_rate engine_frames(const settings& s, const std::vector<image>& frames, bool native,
                         socketengine::image_encoding encoding, int quality, link over) {
  const image& first = frames.front();
  std::atomic<std::uint64_t> decoded{0};
  hub_pair p(native, over, {.encoding = encoding, .jpeg_quality = quality});
  p.receiver.on_image([&](const std::shared_ptr<connection>&, const image& img) {
    if (img.width() != first.width() || img.height() != first.height())
      p.log.add("a frame of the wrong size arrived");
    else
      ++decoded;
  });

  std::atomic<bool> stop{false};
  // Paced as the README shows: wait until write_image would not replace a
  // pending frame, so each frame is encoded while the one before travels.
  // The frames are never written to, so they go with share_pixels, as a
  // C++ producer would send them: raw pixels straight from the frame, as
  // ZeroMQ's zmq_msg_init_data sends them (JPEG and PNG encode all the same).
  worker producer([&] {
    for (std::uint64_t n = 0; !stop.load(); ++n) {
      if (!p.out->wait_for_image_slot(patience))
        throw failure("socketengine: wait_for_image_slot gave up");
      std::error_code ec;
      p.out->write_image(frames[n % frames.size()], socketengine::share_pixels, ec);
      if (ec) throw failure("socketengine write_image: " + ec.message());
    }
  });

  frame_rate r;
  try {
    r = time_frames(s, [&] { return frame_tally{decoded.load(), p.in->stats().bytes_in}; });
  } catch (...) {
    stop = true;
    producer.join_quietly();
    throw;
  }
  stop = true;
  producer.join();
  p.log.check();
  return r;
}

// --- idle connections --------------------------------------------------------

double idle_connection_bytes(const settings& s) {
  raise_open_files();
  problem_log log;
  hub h({.port = 0});
  h.on_error(log.handler("accepting hub"));
  // Freed memory that the allocator still holds would be handed to the new
  // connections without growing the resident set: give it back first.
  ::malloc_trim(0);
  std::this_thread::sleep_for(100ms);
  const double before = resident_bytes();

  const std::size_t n = s.idle_connections;
  dialer_process child(h.port(), n);
  const auto deadline = clock_type::now() + 2 * patience;
  while (!h.wait_for_connections(n, 100ms)) {
    if (child.exited()) throw failure("the dialling process ended before dialling them all");
    if (clock_type::now() > deadline)
      throw failure("the hub did not see " + std::to_string(n) + " connections in time");
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(s.idle_settle));
  const auto conns = h.connections();
  const auto open =
      std::count_if(conns.begin(), conns.end(), [](const auto& c) { return c->is_open(); });
  if (static_cast<std::size_t>(open) != n)
    throw failure(std::to_string(open) + " connections open of " + std::to_string(n));
  const double after = resident_bytes();
  log.check(); // before the hang-ups, which are not the idle hub's problems
  child.finish(true);
  return (after - before) / static_cast<double>(n);
}

int idle_dialer(std::uint16_t port, std::size_t count) {
  raise_open_files();
  hub h({.port = 0, .listen = false});
  std::vector<std::shared_ptr<connection>> held;
  held.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::error_code ec;
    auto c = h.connect("idle", "127.0.0.1", port, ec);
    if (!c) {
      std::fprintf(stderr, "socketengine-bench --idle-dialer: connection %zu: %s\n", i + 1,
                   ec.message().c_str());
      return 1;
    }
    held.push_back(std::move(c));
  }
  // Held until the parent closes the pipe, which its exit does too.
  for (char byte;;) {
    const auto n = ::read(0, &byte, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) return 0;
  }
}

} // namespace compare
