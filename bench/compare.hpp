#pragma once
// What the cases of socketengine-bench (socketengine_bench.cpp) share: the
// settings of a run, the deadline every wait is held to, the measuring
// helpers (compare.cpp), and one function per case, grouped by the system
// measured (compare_tcp.cpp, compare_zmq.cpp, compare_engine.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <socketengine/image.hpp>
#include <socketengine/options.hpp>

namespace compare {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// How long any single wait may take before its case counts as failed: far
// longer than any step needs, even on a busy machine, yet short enough that a
// broken case ends the run instead of hanging it.
inline constexpr auto patience = 15s;

// Thrown by a case that cannot complete (a timeout, a lost or wrong message,
// a socket error); the run reports it and goes on with the next case.
struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct settings {
  bool quick = false;
  double rate_seconds = 1.5;     // length of one throughput repetition
  int rate_repetitions = 5;      // throughput: the best of these is reported
  std::size_t rtt_warmup = 2000; // round trips before the timed ones
  std::size_t rtt_samples = 100000;
  double frame_warmup = 1;      // seconds of frames before counting
  double frame_seconds = 8;     // seconds of frames counted
  std::size_t frame_count = 12; // distinct frames the senders cycle through
  std::size_t idle_connections = 1000;
  double idle_settle = 1; // seconds between the last accept and the RSS reading
  std::string only;       // run only the cases whose title contains this
  bool legacy = false;    // socketengine only as socket.engine 0.3 speaks: no native cases
};

// Where a case's two ends meet: TCP over loopback (127.0.0.1); TLS on TCP
// over loopback, with a certificate made for the run (socketengine only:
// ZeroMQ has no TLS); or a Unix domain socket (ZeroMQ's ipc://) in a
// directory of the run's own.
enum class link { tcp, tls, unix_socket };

// A path for a file named `name` (a socket file, the run's certificate) in
// the run's directory, which is made on first use, readable by this user
// only, and removed, with what is left in it, at exit.
std::string run_path(const std::string& name);

// Runs `body` on a thread; the exception it throws, if any, is kept and
// thrown again by join(), so a case's threads fail the case, not the program.
class worker {
public:
  template <class F>
  explicit worker(F body)
      : thread_([this, body = std::move(body)]() mutable {
          try {
            body();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  worker(const worker&) = delete; // the thread refers to this object
  worker& operator=(const worker&) = delete;
  // Waits for the thread; throws what it threw (once).
  void join() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  // As join(), for the unwinding path of a case that already failed.
  void join_quietly() noexcept {
    if (thread_.joinable()) thread_.join();
    error_ = nullptr;
  }

private:
  std::exception_ptr error_;
  std::jthread thread_;
};

double seconds_between(clock_type::time_point a, clock_type::time_point b);

// Runs `once(n)`, which sends n messages and returns the seconds they took,
// first as a short warm-up that also sizes n so that one repetition lasts
// about `s.rate_seconds`, then `s.rate_repetitions` times. Returns the
// messages per second of each repetition.
std::vector<double> measure_rate(const settings& s,
                                 const std::function<double(std::uint64_t)>& once);

// The value at quantile q (0..1) of `samples`, nearest rank.
double quantile(std::vector<double> samples, double q);

// Frames per second counted at the receiver over `settings::frame_seconds`
// after `settings::frame_warmup`, and the bytes a frame took on the wire.
struct frame_rate {
  double per_s = 0;
  double bytes_per_frame = 0;
};

// What a frame case has counted so far: frames decoded at the receiver and
// the bytes that carried them.
struct frame_tally {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
};

// Lets frames flow through the warm-up, then reads `tally` at the start and
// the end of the measured window.
frame_rate time_frames(const settings& s, const std::function<frame_tally()>& tally);

// --- raw TCP (compare_tcp.cpp) ---------------------------------------------

// Seconds to carry `count` length-prefixed messages of `payload` bytes.
double tcp_stream(std::size_t payload, std::uint64_t count);
// Round-trip times in microseconds of 16-byte messages echoed back.
std::vector<double> tcp_round_trips(const settings& s);
// The frames' raw pixels streamed one way, each as a 4-byte length and the
// pixels, and read into one reused buffer: the reference of native raw.
frame_rate tcp_frames(const settings& s, const std::vector<socketengine::image>& frames);

// --- ZeroMQ (compare_zmq.cpp) ----------------------------------------------

double zmq_stream(std::size_t payload, std::uint64_t count, link over = link::tcp);
std::vector<double> zmq_round_trips(const settings& s, link over = link::tcp);
// REQ/REP, one frame per request: the raw pixels, or a JPEG of `quality`.
frame_rate zmq_frames(const settings& s, const std::vector<socketengine::image>& frames, bool jpeg,
                      int quality, link over = link::tcp);

// --- socketengine (compare_engine.cpp) -------------------------------------

// A receiving hub and a sending hub connected to it over `over`, both
// speaking `native` (false: the legacy JSON lines only), which stay
// connected for every repetition of a throughput case.
class engine_stream {
public:
  engine_stream(bool native, std::size_t payload, link over = link::tcp);
  ~engine_stream();
  engine_stream(const engine_stream&) = delete;
  engine_stream& operator=(const engine_stream&) = delete;
  double operator()(std::uint64_t count);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

std::vector<double> engine_round_trips(const settings& s, bool native, link over = link::tcp);
frame_rate engine_frames(const settings& s, const std::vector<socketengine::image>& frames,
                         bool native, socketengine::image_encoding encoding, int quality,
                         link over = link::tcp);

// Bytes of resident memory one idle accepted connection costs a hub.
double idle_connection_bytes(const settings& s);
// The hidden child mode of the program: dials `count` connections to
// 127.0.0.1:`port` and holds them until standard input closes.
int idle_dialer(std::uint16_t port, std::size_t count);

} // namespace compare
