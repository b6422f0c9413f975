// socketengine-bench: socketengine side by side with ZeroMQ and raw TCP.
//
// Everything runs in this one process over loopback (127.0.0.1), except the
// dialling end of the idle connections. Each socketengine case is a receiving
// hub listening on port 0 and a sending hub that dials it, each an engine of
// its own (an I/O thread and a callback thread), through the public API only;
// "legacy" means both hubs speak only socket.engine 0.3's JSON lines
// (hub_options::native = false), "native" means the defaults, under which two
// socketengine hubs agree on the binary protocol. Each ZeroMQ case has a
// context, and so an I/O thread, per side, as two processes would.
//
// 1. Small messages, one way, 16 B and 256 B, messages received per second;
//    the best of a few repetitions, each sized from a warm-up run to last
//    about the same time.
//    - raw TCP: a stream of frames (4-byte length, payload) between two
//      blocking sockets with TCP_NODELAY. The sender copies each message into
//      a 64 KiB batch and sends whole batches; the receiver reads 256 KiB
//      blocks and walks the frames in place. No protocol can carry messages
//      over a TCP socket for less, so this is the ceiling.
//    - ZeroMQ PUB/SUB over tcp://127.0.0.1, set up as libzmq's perf tools
//      (local_thr/remote_thr) set up their sockets: one message object
//      reused by the receiver with zmq_msg_recv, every other option at its
//      default (which already batches small messages into large writes).
//      The high-water marks are 0, that is unlimited, on both sides: PUB
//      drops what passes its mark, and a run that loses messages measures
//      nothing. The subscription reaches the publisher only some time after
//      the subscriber connects (the "slow joiner"), so the publisher sends
//      one-byte greetings until the subscriber has seen one, and only then
//      starts the clock.
//    - socketengine legacy: connection::write of a 16 (256) character string.
//    - socketengine native: connection::write_bytes of 16 (256) bytes.
//    The socketengine sender writes N messages on "data", then one on "end";
//    the receiving side waits for "end" (the engine delivers in order, so by
//    then all N were received and stored), and the time runs from the first
//    write to that. The receiver's stats().messages_in must have grown by
//    exactly N+1.
// 2. Round trips of a ping-pong, p50 and p99 in microseconds, after a warm-up,
//    every round trip recorded:
//    - raw TCP: 16 bytes sent and echoed back over blocking sockets with
//      TCP_NODELAY, one thread per side.
//    - ZeroMQ REQ/REP with 16-byte messages: the pattern made for it.
//    - socketengine legacy and native: side A writes a counter on "ping" and
//      waits with wait_for_next("pong", timeout, since), where `since` is
//      version("pong") taken before the write; side B loops on
//      wait_for_next("ping", ...) on a thread of its own and writes the value
//      back on "pong".
// 3. 640x480 BGR frames of a photo-like picture (photo.hpp; noise would make
//    every encoder look worse than on a camera's frames) per second, counted
//    at the receiver as decoded frames, after a warm-up:
//    - raw TCP: the raw pixels as a stream of frames (4-byte length,
//      pixels) between two blocking sockets with TCP_NODELAY. The sender
//      writes each frame with one sendmsg straight from its pixels; the
//      receiver reads each into one reused buffer of the frame's size and
//      counts it. Nothing is encoded or decoded and no reply is awaited:
//      the reference the native raw row is held to (/rawTCP). Being one way,
//      the stream lets the kernel queue several frames, whose bytes are out
//      of the cache by the time they are read, so it can come out below one
//      frame in flight (ZeroMQ REQ/REP) on loopback.
//    - ZeroMQ REQ/REP, the two patterns imagezmq uses: the raw pixels, sent
//      without copying (zmq_msg_init_data) and wrapped as an image without
//      copying at the receiver; or a JPEG at quality 90, which the sender
//      encodes and the receiver decodes with the library's own JPEG codec,
//      the one the native JPEG frames use. The receiver replies "OK" to
//      each, so one frame is in flight.
//    - socketengine native raw (image_options::encoding = raw), native JPEG
//      (encoding = jpeg, quality 90) and legacy PNG (native = false). The
//      sender loops wait_for_image_slot, write_image with share_pixels
//      (which encodes, but sends raw pixels straight from the frame, as
//      ZeroMQ's sender does), so it encodes the next frame while one
//      travels; the receiver counts frames in an image callback.
// 4. The same between two processes of one machine would go over a Unix
//    domain socket: socketengine native over `unix:PATH` next to ZeroMQ
//    over `ipc://PATH`, socket files in a directory of the run's own: 16 B
//    messages (ZeroMQ PUB/SUB), round trips and raw frames (ZeroMQ
//    REQ/REP), as above.
// 5. The same between machines would be protected by TLS: socketengine
//    native over TLS on TCP (tls_options on both hubs; OpenSSL settles on
//    TLS 1.3 between them) over loopback: 16 B messages, round trips, raw
//    and JPEG frames, as above, each case run right after its plain-TCP
//    one and reported as a ratio to it. The listening hub presents a
//    throwaway EC P-256 key and a self-signed certificate naming 127.0.0.1,
//    made when the first TLS case starts (throwaway_certificate.cpp) in the
//    run's directory; the dialling hub trusts that certificate as its CA
//    and verifies the peer against it and the address dialled, as a user
//    would run it. The handshake is over before the clock starts. ZeroMQ
//    has no TLS (its CURVE security is a protocol of its own), so no ZeroMQ
//    figure stands beside these.
// 6. Resident memory of one idle connection: the process's RSS
//    (/proc/self/statm) before and after one hub has accepted 1,000
//    connections, which a child process (this program, with the hidden
//    `--idle-dialer PORT N`) dials from a hub of its own and holds until its
//    standard input closes. Both processes raise their open-file limit to the
//    hard limit. This case runs first, while the heap holds nothing freed
//    by other cases that the connections could reuse unseen.
//
// Every wait has a deadline (compare::patience): a case that cannot finish
// is reported as FAILED, the run goes on, and the program exits with status
// 1. Should a case still run far past its deadlines (a call that never
// returns), a watchdog reports it and ends the program. Either way the last
// line of standard output is one JSON object with the figures (null for a
// failed case); progress goes to standard error.
//
// Usage: socketengine-bench [--quick] [--help]

#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "compare.hpp"
#include "machine.hpp"

namespace {

using bench::cores_busy_before;
using bench::cpu_model;
using bench::make_frames;
using bench::usable_cores;

using namespace compare;
using socketengine::image;
using socketengine::image_encoding;

constexpr int jpeg_quality = 90;

void print_usage(std::FILE* to) {
  std::fprintf(to, "usage: socketengine-bench [--quick] [--only TEXT] [--legacy]\n"
                   "  socketengine next to ZeroMQ and raw TCP over loopback: small messages,\n"
                   "  round trips, 640x480 frames and the memory of idle connections; and\n"
                   "  socketengine over a Unix socket and over TLS.\n"
                   "  --quick  a short run (under a minute); the default takes 3 to 4 minutes\n"
                   "  --only TEXT  run only the cases whose title contains TEXT\n"
                   "  --legacy socketengine only as socket.engine 0.3 speaks (JSON lines):\n"
                   "           its native cases are skipped, raw TCP and ZeroMQ still run\n"
                   "  --help   this text\n"
                   "The last line printed is a JSON object with every figure.\n");
}

settings quick_settings() {
  settings s;
  s.quick = true;
  s.rate_seconds = 0.4;
  s.rate_repetitions = 3;
  s.rtt_warmup = 500;
  s.rtt_samples = 10000;
  s.frame_warmup = 0.5;
  s.frame_seconds = 2;
  s.frame_count = 4;
  s.idle_settle = 0.5;
  return s;
}

// --- what was measured -------------------------------------------------------

// The figures by their JSON key, in the order they were taken. Locked: the
// watchdog may print them while a case is still running.
class results {
public:
  void set(std::string key, double v) {
    std::lock_guard lk(mu_);
    values_.emplace_back(std::move(key), v);
  }
  [[nodiscard]] std::optional<double> get(std::string_view key) const {
    std::lock_guard lk(mu_);
    for (const auto& [k, v] : values_)
      if (k == key) return v;
    return std::nullopt;
  }
  void note(std::string key, std::string text) {
    std::lock_guard lk(mu_);
    notes_.emplace_back(std::move(key), std::move(text));
  }
  [[nodiscard]] std::string note_for(std::string_view key) const {
    std::lock_guard lk(mu_);
    for (const auto& [k, v] : notes_)
      if (k == key) return v;
    return {};
  }
  void fail(std::string why) {
    std::lock_guard lk(mu_);
    failures_.push_back(std::move(why));
  }
  [[nodiscard]] std::vector<std::string> failures() const {
    std::lock_guard lk(mu_);
    return failures_;
  }

private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, double>> values_;
  std::vector<std::pair<std::string, std::string>> notes_;
  std::vector<std::string> failures_;
};

// Gives up on a case that runs far longer than its deadlines allow: a wait
// somewhere without one, or a library call that never returns. The stuck
// thread cannot be stopped, so `give_up` reports and the process ends.
class watchdog {
public:
  watchdog(std::chrono::seconds limit, std::function<void(const std::string&)> give_up)
      : limit_(limit), give_up_(std::move(give_up)), thread_([this](std::stop_token stop) {
          std::unique_lock lk(mu_);
          while (!stop.stop_requested()) {
            cv_.wait_for(lk, stop, 1s, [] { return false; });
            if (since_ && clock_type::now() - *since_ > limit_) {
              const auto title = title_;
              lk.unlock();
              give_up_(title);
              std::_Exit(1);
            }
          }
        }) {}

  void begin(std::string title) {
    std::lock_guard lk(mu_);
    title_ = std::move(title);
    since_ = clock_type::now();
  }
  void end() {
    std::lock_guard lk(mu_);
    since_.reset();
  }

private:
  const std::chrono::seconds limit_;
  const std::function<void(const std::string&)> give_up_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::string title_;
  std::optional<clock_type::time_point> since_;
  std::jthread thread_; // last: it uses everything above
};

std::string with_commas(double v) {
  const auto digits = std::to_string(static_cast<long long>(v + 0.5));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void record_rates(results& r, const std::string& key, std::vector<double> rates) {
  std::sort(rates.begin(), rates.end());
  r.set(key, rates.back());
  r.note(key, "median " + with_commas(quantile(rates, 0.5)));
}

void record_round_trips(results& r, const std::string& prefix, const std::vector<double>& us) {
  r.set(prefix + "_p50_us", quantile(us, 0.5));
  r.set(prefix + "_p99_us", quantile(us, 0.99));
  const double mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  char text[64];
  std::snprintf(text, sizeof text, "mean %.1f us", mean);
  r.note(prefix + "_p50_us", text);
  std::snprintf(text, sizeof text, "max %.1f us", *std::max_element(us.begin(), us.end()));
  r.note(prefix + "_p99_us", text);
}

void record_frames(results& r, const std::string& prefix, const frame_rate& f) {
  r.set(prefix + "_frames_per_s", f.per_s);
  r.set(prefix + "_bytes_per_frame", f.bytes_per_frame);
  char text[64];
  std::snprintf(text, sizeof text, "%.0f KB a frame on the wire", f.bytes_per_frame / 1000);
  r.note(prefix + "_frames_per_s", text);
}

// --- the report ----------------------------------------------------------------

struct row {
  std::string label;
  std::string key;
  std::string zmq_key = {}; // ratio socketengine / this, when it applies
  std::string tcp_key = {};
  std::string versus_key = {};   // one more ratio, in the notes,
  std::string versus_label = {}; // with this to say what it is to
};

struct section {
  std::string title;
  std::string unit;
  int decimals;
  std::vector<row> rows;
};

std::vector<section> layout() {
  auto messages = [](int size) {
    const auto key = [&](const char* who) {
      return std::string(who) + "_" + std::to_string(size) + "B_msgs_per_s";
    };
    return section{"small messages, " + std::to_string(size) +
                       " B, one way: received per second, best of the repetitions",
                   "msg/s",
                   0,
                   {{"raw TCP, length-prefixed stream", key("tcp")},
                    {"ZeroMQ PUB/SUB", key("zmq")},
                    {"socketengine legacy (JSON lines)", key("legacy"), key("zmq"), key("tcp")},
                    {"socketengine native", key("native"), key("zmq"), key("tcp")}}};
  };
  auto round_trips = [](const std::string& q) {
    const auto key = [&](const char* who) { return std::string(who) + "_rtt_" + q + "_us"; };
    return section{"round trip, " + q,
                   "us",
                   1,
                   {{"raw TCP, 16 B echo", key("tcp")},
                    {"ZeroMQ REQ/REP, 16 B", key("zmq")},
                    {"socketengine legacy, counter", key("legacy"), key("zmq"), key("tcp")},
                    {"socketengine native, counter", key("native"), key("zmq"), key("tcp")}}};
  };
  // Over a Unix domain socket, next to ZeroMQ over ipc:// (the /ZeroMQ ratio
  // is to that), and to socketengine over TCP in the notes.
  auto unix_rows = [](section sec, const std::string& zmq_label, const std::string& zmq_key,
                      const std::string& label, const std::string& key,
                      const std::string& tcp_key) {
    sec.rows.push_back({zmq_label, zmq_key});
    sec.rows.push_back({label, key, zmq_key, "", tcp_key, "of native over TCP"});
    return sec;
  };
  // Over TLS, with no ZeroMQ to hold it to: its ratio to native over plain
  // TCP, in the notes, is what TLS costs.
  const auto tls_row = [](const std::string& label, const std::string& key,
                          const std::string& tcp_key) {
    return row{label, key, "", "", tcp_key, "of native over plain TCP"};
  };
  auto tls_rows = [&](section sec, const std::string& key, const std::string& tcp_key) {
    sec.rows.push_back(tls_row("socketengine native, TLS", key, tcp_key));
    return sec;
  };
  return {tls_rows(unix_rows(messages(16), "ZeroMQ PUB/SUB, ipc://", "zmq_ipc_16B_msgs_per_s",
                             "socketengine native, Unix socket", "unix_16B_msgs_per_s",
                             "native_16B_msgs_per_s"),
                   "tls_16B_msgs_per_s", "native_16B_msgs_per_s"),
          messages(256),
          tls_rows(unix_rows(round_trips("p50"), "ZeroMQ REQ/REP, ipc://", "zmq_ipc_rtt_p50_us",
                             "socketengine native, Unix socket", "unix_rtt_p50_us",
                             "native_rtt_p50_us"),
                   "tls_rtt_p50_us", "native_rtt_p50_us"),
          tls_rows(unix_rows(round_trips("p99"), "ZeroMQ REQ/REP, ipc://", "zmq_ipc_rtt_p99_us",
                             "socketengine native, Unix socket", "unix_rtt_p99_us",
                             "native_rtt_p99_us"),
                   "tls_rtt_p99_us", "native_rtt_p99_us"),
          {"640x480 BGR frames decoded at the receiver",
           "frames/s",
           1,
           {{"raw TCP, raw pixels", "tcp_raw_frames_per_s"},
            {"ZeroMQ REQ/REP, raw pixels", "zmq_raw_frames_per_s"},
            {"ZeroMQ REQ/REP, JPEG q90", "zmq_jpeg_frames_per_s"},
            {"socketengine native, raw", "native_raw_frames_per_s", "zmq_raw_frames_per_s",
             "tcp_raw_frames_per_s"},
            {"socketengine native, JPEG q90", "native_jpeg_frames_per_s", "zmq_jpeg_frames_per_s"},
            {"socketengine legacy, PNG", "legacy_png_frames_per_s"},
            {"ZeroMQ REQ/REP, raw pixels, ipc://", "zmq_ipc_raw_frames_per_s"},
            {"socketengine native, raw, Unix socket", "unix_raw_frames_per_s",
             "zmq_ipc_raw_frames_per_s", "", "native_raw_frames_per_s", "of native over TCP"},
            tls_row("socketengine native, raw, TLS", "tls_raw_frames_per_s",
                    "native_raw_frames_per_s"),
            tls_row("socketengine native, JPEG q90, TLS", "tls_jpeg_frames_per_s",
                    "native_jpeg_frames_per_s")}},
          {"memory of an idle connection (1,000 accepted by one hub)",
           "bytes",
           0,
           {{"socketengine, RSS growth per connection", "idle_connection_bytes"}}}};
}

std::string format_value(double v, int decimals) {
  if (decimals == 0) return with_commas(v);
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

void print_table(const results& r, const settings& s) {
  std::printf("\nratios: socketengine's figure / ZeroMQ's or raw TCP's (for rates, above 1 is "
              "faster; for round trips, below 1 is faster)\n");
  std::printf("throughput: best of %d repetitions of about %.2f s (median in the notes); round "
              "trips: %zu samples after %zu; frames: %.1f s after %.1f s\n",
              s.rate_repetitions, s.rate_seconds, s.rtt_samples, s.rtt_warmup, s.frame_seconds,
              s.frame_warmup);
  std::printf("\n%-42s %14s %-9s %8s %8s  %s\n", "measurement", "value", "unit", "/ZeroMQ",
              "/rawTCP", "notes");
  for (const auto& sec : layout()) {
    std::printf("%s\n", sec.title.c_str());
    for (const auto& rw : sec.rows) {
      const auto v = r.get(rw.key);
      auto ratio = [&](const std::string& other) -> std::string {
        if (other.empty() || !v) return "";
        const auto o = r.get(other);
        if (!o || *o == 0) return "";
        char text[32];
        std::snprintf(text, sizeof text, "%.2fx", *v / *o);
        return text;
      };
      auto notes = r.note_for(rw.key);
      if (auto versus = ratio(rw.versus_key); !versus.empty())
        notes += (notes.empty() ? "" : "; ") + versus + " " + rw.versus_label;
      std::printf("  %-40s %14s %-9s %8s %8s  %s\n", rw.label.c_str(),
                  v                                 ? format_value(*v, sec.decimals).c_str()
                  : s.only.empty() && !s.legacy ? "FAILED"
                                                : "-",
                  sec.unit.c_str(), ratio(rw.zmq_key).c_str(), ratio(rw.tcp_key).c_str(),
                  notes.c_str());
    }
  }
}

void print_json(const results& r, const settings& s, double cores_busy, double wall_seconds) {
  static const char* const keys[] = {"tcp_16B_msgs_per_s",
                                     "zmq_16B_msgs_per_s",
                                     "legacy_16B_msgs_per_s",
                                     "native_16B_msgs_per_s",
                                     "tcp_256B_msgs_per_s",
                                     "zmq_256B_msgs_per_s",
                                     "legacy_256B_msgs_per_s",
                                     "native_256B_msgs_per_s",
                                     "tcp_rtt_p50_us",
                                     "tcp_rtt_p99_us",
                                     "zmq_rtt_p50_us",
                                     "zmq_rtt_p99_us",
                                     "legacy_rtt_p50_us",
                                     "legacy_rtt_p99_us",
                                     "native_rtt_p50_us",
                                     "native_rtt_p99_us",
                                     "tcp_raw_frames_per_s",
                                     "zmq_raw_frames_per_s",
                                     "zmq_jpeg_frames_per_s",
                                     "native_raw_frames_per_s",
                                     "native_jpeg_frames_per_s",
                                     "legacy_png_frames_per_s",
                                     "tcp_raw_bytes_per_frame",
                                     "zmq_raw_bytes_per_frame",
                                     "zmq_jpeg_bytes_per_frame",
                                     "native_raw_bytes_per_frame",
                                     "native_jpeg_bytes_per_frame",
                                     "legacy_png_bytes_per_frame",
                                     "unix_16B_msgs_per_s",
                                     "unix_rtt_p50_us",
                                     "unix_rtt_p99_us",
                                     "unix_raw_frames_per_s",
                                     "zmq_ipc_16B_msgs_per_s",
                                     "zmq_ipc_rtt_p50_us",
                                     "zmq_ipc_rtt_p99_us",
                                     "zmq_ipc_raw_frames_per_s",
                                     "unix_raw_bytes_per_frame",
                                     "zmq_ipc_raw_bytes_per_frame",
                                     "tls_16B_msgs_per_s",
                                     "tls_rtt_p50_us",
                                     "tls_rtt_p99_us",
                                     "tls_raw_frames_per_s",
                                     "tls_jpeg_frames_per_s",
                                     "tls_raw_bytes_per_frame",
                                     "tls_jpeg_bytes_per_frame",
                                     "idle_connection_bytes"};
  std::string out = "{";
  for (const char* k : keys) {
    const auto v = r.get(k);
    char text[64] = "null";
    if (v) std::snprintf(text, sizeof text, "%.10g", *v);
    out.append("\"").append(k).append("\": ").append(text).append(", ");
  }
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  char tail[512];
  std::snprintf(tail, sizeof tail,
                "\"throughput_statistic\": \"best of %d\", \"rtt_samples\": %zu, "
                "\"jpeg_quality\": %d, \"idle_connections\": %zu, \"zmq_version\": \"%d.%d.%d\", "
                "\"cores_busy_before\": %.2f, \"quick\": %s, \"legacy\": %s, \"failures\": %zu, "
                "\"wall_seconds\": %.1f}",
                s.rate_repetitions, s.rtt_samples, jpeg_quality, s.idle_connections, major, minor,
                patch, cores_busy, s.quick ? "true" : "false", s.legacy ? "true" : "false",
                r.failures().size(), wall_seconds);
  std::printf("%s%s\n", out.c_str(), tail);
}

void print_report(const results& r, const settings& s, double cores_busy, double wall_seconds) {
  print_table(r, s);
  for (const auto& why : r.failures()) std::printf("FAILED: %s\n", why.c_str());
  print_json(r, s, cores_busy, wall_seconds);
  std::fflush(stdout);
}

int run(const settings& s) {
  const auto started = clock_type::now();
  results r;

  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  std::printf("socketengine-bench: socketengine next to ZeroMQ %d.%d.%d and raw TCP, over "
              "loopback (127.0.0.1)%s\n",
              major, minor, patch, s.quick ? ", quick run" : "");
  const double others = cores_busy_before(std::chrono::milliseconds(250));
  std::printf("machine: %u cores, %s; %.2f cores busy with other work before the run%s\n",
              usable_cores(), cpu_model().c_str(), others,
              others > 0.2 ? " (expect lower and noisier figures)" : "");
#ifndef NDEBUG
  std::printf("warning: built without NDEBUG, not a release build: figures are not "
              "representative\n");
#endif
  std::fflush(stdout);

  // Far past what any case takes, or takes to fail by its own deadlines.
  const auto limit = s.quick ? 60s : 120s;
  watchdog dog(limit, [&](const std::string& title) {
    const auto why = title + ": still running after " + std::to_string(limit.count()) +
                     " s; given up, the program ends here";
    std::fprintf(stderr, "socketengine-bench: FAILED: %s\n", why.c_str());
    r.fail(why);
    print_report(r, s, others, seconds_between(started, clock_type::now()));
  });
  // Runs one case; a failure is recorded (its figures stay missing) and the
  // run goes on.
  auto attempt = [&](const std::string& title, const auto& body) {
    if (title.find(s.only) == std::string::npos) return;
    // The idle connections are native ones.
    if (s.legacy && (title.find("socketengine native") != std::string::npos ||
                     title == "idle connections"))
      return;
    std::fprintf(stderr, "socketengine-bench: %s\n", title.c_str());
    dog.begin(title);
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "socketengine-bench: FAILED: %s: %s\n", title.c_str(), e.what());
      r.fail(title + ": " + e.what());
    }
    dog.end();
  };

  attempt("idle connections", [&] { r.set("idle_connection_bytes", idle_connection_bytes(s)); });

  const auto frames = make_frames(s.frame_count);

  for (const std::size_t size : {std::size_t{16}, std::size_t{256}}) {
    const auto suffix = "_" + std::to_string(size) + "B_msgs_per_s";
    const auto label = std::to_string(size) + " B messages: ";
    attempt(label + "raw TCP", [&] {
      record_rates(r, "tcp" + suffix,
                   measure_rate(s, [&](std::uint64_t n) { return tcp_stream(size, n); }));
    });
    attempt(label + "ZeroMQ PUB/SUB", [&] {
      record_rates(r, "zmq" + suffix,
                   measure_rate(s, [&](std::uint64_t n) { return zmq_stream(size, n); }));
    });
    for (const bool native : {false, true}) {
      attempt(label + (native ? "socketengine native" : "socketengine legacy"), [&] {
        engine_stream stream(native, size);
        record_rates(r, (native ? "native" : "legacy") + suffix,
                     measure_rate(s, [&](std::uint64_t n) { return stream(n); }));
      });
    }
    // Each TLS case runs right after its plain-TCP one, so that what else
    // the machine does weighs on both alike.
    if (size == 16) {
      attempt(label + "socketengine native over TLS", [&] {
        engine_stream stream(true, size, link::tls);
        record_rates(r, "tls" + suffix,
                     measure_rate(s, [&](std::uint64_t n) { return stream(n); }));
      });
    }
  }

  attempt("round trips: raw TCP", [&] { record_round_trips(r, "tcp_rtt", tcp_round_trips(s)); });
  attempt("round trips: ZeroMQ REQ/REP",
          [&] { record_round_trips(r, "zmq_rtt", zmq_round_trips(s)); });
  attempt("round trips: socketengine legacy",
          [&] { record_round_trips(r, "legacy_rtt", engine_round_trips(s, false)); });
  attempt("round trips: socketengine native",
          [&] { record_round_trips(r, "native_rtt", engine_round_trips(s, true)); });
  attempt("round trips: socketengine native over TLS",
          [&] { record_round_trips(r, "tls_rtt", engine_round_trips(s, true, link::tls)); });

  attempt("frames: raw TCP", [&] { record_frames(r, "tcp_raw", tcp_frames(s, frames)); });
  attempt("frames: ZeroMQ raw",
          [&] { record_frames(r, "zmq_raw", zmq_frames(s, frames, false, jpeg_quality)); });
  attempt("frames: ZeroMQ JPEG",
          [&] { record_frames(r, "zmq_jpeg", zmq_frames(s, frames, true, jpeg_quality)); });
  attempt("frames: socketengine native raw", [&] {
    record_frames(r, "native_raw",
                  engine_frames(s, frames, true, image_encoding::raw, jpeg_quality));
  });
  attempt("frames: socketengine native JPEG", [&] {
    record_frames(r, "native_jpeg",
                  engine_frames(s, frames, true, image_encoding::jpeg, jpeg_quality));
  });
  attempt("frames: socketengine native raw over TLS", [&] {
    record_frames(r, "tls_raw",
                  engine_frames(s, frames, true, image_encoding::raw, jpeg_quality, link::tls));
  });
  attempt("frames: socketengine native JPEG over TLS", [&] {
    record_frames(r, "tls_jpeg",
                  engine_frames(s, frames, true, image_encoding::jpeg, jpeg_quality, link::tls));
  });
  attempt("frames: socketengine legacy PNG", [&] {
    record_frames(r, "legacy_png",
                  engine_frames(s, frames, false, image_encoding::png, jpeg_quality));
  });

  // The same over a Unix domain socket, next to ZeroMQ over ipc://.
  attempt("16 B messages over a Unix socket: ZeroMQ PUB/SUB (ipc://)", [&] {
    record_rates(r, "zmq_ipc_16B_msgs_per_s", measure_rate(s, [&](std::uint64_t n) {
                   return zmq_stream(16, n, link::unix_socket);
                 }));
  });
  attempt("16 B messages over a Unix socket: socketengine native", [&] {
    engine_stream stream(true, 16, link::unix_socket);
    record_rates(r, "unix_16B_msgs_per_s",
                 measure_rate(s, [&](std::uint64_t n) { return stream(n); }));
  });
  attempt("round trips over a Unix socket: ZeroMQ REQ/REP (ipc://)",
          [&] { record_round_trips(r, "zmq_ipc_rtt", zmq_round_trips(s, link::unix_socket)); });
  attempt("round trips over a Unix socket: socketengine native", [&] {
    record_round_trips(r, "unix_rtt", engine_round_trips(s, true, link::unix_socket));
  });
  attempt("frames over a Unix socket: ZeroMQ raw (ipc://)", [&] {
    record_frames(r, "zmq_ipc_raw", zmq_frames(s, frames, false, jpeg_quality, link::unix_socket));
  });
  attempt("frames over a Unix socket: socketengine native raw", [&] {
    record_frames(r, "unix_raw", engine_frames(s, frames, true, image_encoding::raw, jpeg_quality,
                                               link::unix_socket));
  });

  print_report(r, s, others, seconds_between(started, clock_type::now()));
  return r.failures().empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) try {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") {
      print_usage(stdout);
      return 0;
    }
    if (arg == "--quick") {
      auto only = std::move(s.only);
      const bool legacy = s.legacy;
      s = quick_settings();
      s.only = std::move(only);
      s.legacy = legacy;
    } else if (arg == "--legacy") {
      s.legacy = true;
    } else if (arg == "--only" && i + 1 < argc) {
      s.only = argv[++i];
    } else if (arg == "--idle-dialer" && i + 2 < argc) {
      // The child of the idle-connection case (see idle_connection_bytes).
      std::uint16_t port = 0;
      std::size_t count = 0;
      const std::string_view p = argv[i + 1], c = argv[i + 2];
      if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc{} ||
          std::from_chars(c.data(), c.data() + c.size(), count).ec != std::errc{})
        return 2;
      return idle_dialer(port, count);
    } else {
      print_usage(stderr);
      return 2;
    }
  }
  return run(s);
} catch (const std::exception& e) {
  std::fflush(stdout);
  std::fprintf(stderr, "socketengine-bench: %s\n", e.what());
  return 1;
}
