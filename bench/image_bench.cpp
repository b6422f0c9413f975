// socketengine-image-bench: camera frames over the legacy protocol.
//
// Two hubs in one process, the sender dialling the receiver over loopback,
// stream 640x480 BGR frames of a synthetic landscape video (photo.hpp) the
// way the protocol carries them: a PNG, base64-encoded, in one JSON line per
// frame, with one frame in flight until the receiver acknowledges it.
//
// It prints what one frame costs (PNG and line bytes, encode and decode
// time, each the median over the generated frames) and how many distinct
// frames per second arrive, for several PNG compression levels; then the
// same stream with a sender that does not pace itself and leaves it to
// latest-frame-wins; and last one JSON line with the numbers for the chosen
// level, for scripts to compare runs.
//
// Every frame that arrives is compared byte for byte with the frame sent; a
// difference, a lost frame or an engine error makes the program exit with
// status 1.
//
// Usage: socketengine-image-bench [--seconds N] [--quick] [--level N]

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <mutex>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>


#include <socketengine/socketengine.hpp>

#include "protocol/legacy/base64.hpp"
#include "image/png.hpp"
#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/line_codec.hpp"

#include "machine.hpp"

namespace {

using bench::cores_busy_before;
using bench::cpu_model;
using bench::make_frames;
using bench::usable_cores;

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using socketengine::image;

// How long any single wait may take before the run counts as failed: far
// longer than a frame needs, even at level 9 on a slow machine.
constexpr auto patience = 10s;

// The levels every run compares, so the default can be judged against
// "no compression" and zlib's own default.
constexpr int table_levels[] = {0, 1, 3, 6};

struct options {
  double seconds = 5;      // measured time of each stream
  double warmup = 1;       // time before measuring: connection set-up, TCP windows, caches
  int level = 1;           // the level the summary and the JSON line are about
  std::size_t frames = 24; // distinct frames generated; streams cycle through them
  std::size_t codec_samples = 15;
};

void print_usage(std::FILE* to) {
  std::fprintf(to, "usage: socketengine-image-bench [--seconds N] [--quick] [--level 0..9]\n"
                   "  --seconds N  measure each stream for N seconds (default 5)\n"
                   "  --quick      a short run: 1.5 s per stream, fewer frames and samples\n"
                   "  --level N    the PNG compression level to report on (default 1)\n");
}

// Empty when the program should stop, with `status` to exit with.
std::optional<options> parse_args(int argc, char** argv, int& status) {
  options o;
  bool ok = true;
  auto number = [&](int& i, auto& out) {
    if (++i >= argc) return false;
    const std::string_view text = argv[i];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
  };
  std::optional<double> seconds;
  for (int i = 1; i < argc && ok; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") {
      print_usage(stdout);
      status = 0;
      return std::nullopt;
    }
    if (arg == "--quick") {
      o.seconds = 1.5;
      o.warmup = 0.5;
      o.frames = 8;
      o.codec_samples = 5;
    } else if (arg == "--seconds") {
      double s = 0;
      ok = number(i, s) && s > 0;
      seconds = s;
    } else if (arg == "--level") {
      ok = number(i, o.level) && o.level >= 0 && o.level <= 9;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    print_usage(stderr);
    status = 2;
    return std::nullopt;
  }
  if (seconds) o.seconds = *seconds; // --seconds wins over --quick, in any order
  return o;
}

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleep_for_seconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }




// --- frames ----------------------------------------------------------------


// --- what one frame costs --------------------------------------------------

struct codec_cost {
  int level = 0;
  double png_bytes = 0;
  double line_bytes = 0;
  double png_encode_ms = 0;
  double base64_encode_ms = 0;
  double line_encode_ms = 0; // the whole of append_image_line: PNG, base64, JSON framing
  double scan_ms = 0;        // match_image_line: finding the base64 text in the line
  double base64_decode_ms = 0;
  double png_decode_ms = 0;
  double line_decode_ms = 0; // decode_image_data: base64 and PNG, as the receiver runs it
};

// Each step is timed on its own, with the functions the engine calls, and
// the round trip is checked to give back the frame. `whole_line` also times
// the line as the engine builds and reads it, which encodes the PNG again:
// worth it only for the level the summary is about.
codec_cost measure_codec(const std::vector<image>& frames, std::size_t samples, int level,
                         bool whole_line) {
  namespace sd = socketengine::detail;
  std::vector<double> png_bytes, line_bytes, png_enc, b64_enc, line_enc, scan, b64_dec, png_dec,
      line_dec;
  std::string png, text, line;
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i < samples; ++i) {
    const image& frame = frames[i % frames.size()];

    png.clear();
    auto t0 = clock_type::now();
    sd::png::encode(frame, level, png);
    auto t1 = clock_type::now();
    text.resize(sd::legacy::base64::encoded_size(png.size()));
    const std::span png_data(reinterpret_cast<const std::uint8_t*>(png.data()), png.size());
    sd::legacy::base64::encode(png_data, text.data());
    auto t2 = clock_type::now();
    line.clear();
    if (whole_line) {
      sd::legacy::append_image_line(line, sd::legacy::channels::image, frame, level);
    } else {
      // The same line, from the PNG already made.
      line.append(R"({"type":"__image","data":")").append(text).append("\"}\n");
    }
    auto t3 = clock_type::now();

    const std::string_view received(line.data(), line.size() - 1); // the reader strips '\n'
    auto data = sd::legacy::match_image_line(received, sd::legacy::channels::image);
    auto t4 = clock_type::now();
    if (!data) throw std::runtime_error("the receiver would not recognise the image line");
    bytes.resize(sd::legacy::base64::max_decoded_size(data->size()));
    auto n = sd::legacy::base64::decode(*data, bytes.data());
    auto t5 = clock_type::now();
    std::error_code ec;
    std::string detail;
    auto check = [&](const std::optional<image>& decoded) {
      if (!decoded || !(*decoded == frame))
        throw std::runtime_error("PNG level " + std::to_string(level) +
                                 " does not give the frame back: " + detail);
    };
    auto direct = sd::png::decode({bytes.data(), n.value_or(0)}, UINT64_MAX, ec, detail);
    auto t6 = clock_type::now();
    check(direct);
    double line_decode_ms = 0;
    if (whole_line) {
      auto t7 = clock_type::now();
      auto from_line = sd::legacy::decode_image_data(*data, UINT64_MAX, ec, detail);
      line_decode_ms = ms_between(t3, t4) + ms_between(t7, clock_type::now());
      check(from_line);
    }

    png_bytes.push_back(static_cast<double>(png.size()));
    line_bytes.push_back(static_cast<double>(line.size()));
    png_enc.push_back(ms_between(t0, t1));
    b64_enc.push_back(ms_between(t1, t2));
    scan.push_back(ms_between(t3, t4));
    b64_dec.push_back(ms_between(t4, t5));
    png_dec.push_back(ms_between(t5, t6));
    if (whole_line) {
      line_enc.push_back(ms_between(t2, t3));
      line_dec.push_back(line_decode_ms);
    }
  }
  return {level,          median(png_bytes), median(line_bytes), median(png_enc),
          median(b64_enc), median(line_enc), median(scan),       median(b64_dec),
          median(png_dec), median(line_dec)};
}

// --- the stream ------------------------------------------------------------

// Checks, on the receiving hub's callback thread, every frame that arrives
// against the frames the sender cycles through. A paced sender loses no
// frame, so frame k must be frames[k % size]; with latest-frame-wins frames
// may be skipped but never reordered. A mismatching frame differs from the
// others in its first bytes (the sensor noise is new in every frame), so
// looking it up costs little more than the one full comparison.
class frame_checker {
public:
  frame_checker(const std::vector<image>& frames, bool lossless)
      : frames_(frames), lossless_(lossless) {}

  void on_image(const image& img) {
    std::lock_guard lk(mu_);
    const std::size_t count = frames_.size();
    const std::size_t first = next_ % count;
    std::optional<std::size_t> found;
    for (std::size_t k = 0; k < count && !found; ++k)
      if (img == frames_[(first + k) % count]) found = (first + k) % count;
    const auto n = received_.load();
    if (!found) fail_locked("frame " + std::to_string(n) + " received matches no frame sent");
    else if (lossless_ && *found != first)
      fail_locked("frame " + std::to_string(n) + " received is not the next frame sent");
    if (found) {
      last_ = *found;
      next_ = *found + 1;
    }
    received_.store(n + 1);
  }

  // The sender's last message, queued after its last frame, says how many
  // frames it wrote. Handlers run in arrival order, so every frame has been
  // checked by now.
  void on_done(std::uint64_t written) {
    std::lock_guard lk(mu_);
    const auto n = received_.load();
    if (lossless_ && n != written)
      fail_locked(std::to_string(n) + " frames received of " + std::to_string(written) + " sent");
    if (!lossless_ && n > written)
      fail_locked(std::to_string(n) + " frames received, more than the " +
                  std::to_string(written) + " written");
    if (written > 0 && last_ != (written - 1) % frames_.size())
      fail_locked("the last frame received is not the last frame sent");
    done_ = true;
    cv_.notify_all();
  }

  void fail(const std::string& why) {
    std::lock_guard lk(mu_);
    fail_locked(why);
  }

  bool wait_done(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return done_; });
  }

  [[nodiscard]] std::uint64_t received() const noexcept { return received_.load(); }

  [[nodiscard]] std::string problem() const {
    std::lock_guard lk(mu_);
    return problem_;
  }

private:
  void fail_locked(const std::string& why) {
    if (problem_.empty()) problem_ = why; // the first problem explains the rest
  }

  const std::vector<image>& frames_;
  const bool lossless_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> received_{0};
  std::size_t next_ = 0;
  std::size_t last_ = SIZE_MAX;
  bool done_ = false;
  std::string problem_;
};

struct stream_result {
  double fps = 0;              // distinct frames received per second
  double written_per_s = 0;    // frames the sender encoded and wrote per second
  double wire_mb_per_s = 0;    // bytes read by the receiver, MB/s
  double sender_encoding = 0;  // share of the sender thread's time in write_image
  double sender_waiting = 0;   // share of it in wait_for_image_slot
  double cores_busy = 0;       // CPU time of the whole process per second
  std::uint64_t received = 0;  // frames received and checked, warm-up included
  std::string problem;         // empty when every frame checked out
};

// Streams frames from one hub to another for warm-up + `seconds`. With
// `paced`, the sender waits for the image slot before each frame, so it
// encodes frame n+1 while frame n travels and never encodes a frame that is
// then replaced; without, it writes as fast as it can encode and
// latest-frame-wins keeps only the newest frame waiting.
stream_result run_stream(const std::vector<image>& frames, int level, bool paced,
                         const options& opt) {
  using socketengine::value;
  // Declared before the hubs, so it outlives their callback threads.
  frame_checker checker(frames, paced);
  auto report = [&checker](const std::shared_ptr<socketengine::connection>&, std::error_code ec,
                           const std::string& detail) {
    checker.fail("engine error: " + ec.message() + ": " + detail);
  };

  socketengine::hub receiver({.port = 0});
  receiver.on_error(report);
  receiver.on_image([&](const auto&, const image& img) { checker.on_image(img); });
  receiver.on("done",
              [&](const auto&, const value& v) { checker.on_done(v.get<std::uint64_t>()); });

  socketengine::hub sender({.port = 0, .images = {.png_compression = level}});
  sender.on_error(report);
  auto camera = sender.connect("camera", "127.0.0.1", receiver.port());
  auto link = receiver.wait_for_connection(patience);
  if (!link) return {.problem = "the receiver saw no connection"};

  std::atomic<std::uint64_t> written{0};
  std::atomic<std::int64_t> encode_ns{0}, wait_ns{0};
  std::jthread producer([&](std::stop_token stop) {
    for (std::uint64_t n = 0; !stop.stop_requested(); ++n) {
      const auto t0 = clock_type::now();
      if (paced && !camera->wait_for_image_slot(patience)) {
        checker.fail("wait_for_image_slot gave up");
        return;
      }
      const auto t1 = clock_type::now();
      std::error_code ec;
      camera->write_image(frames[n % frames.size()], ec);
      const auto t2 = clock_type::now();
      if (ec) {
        checker.fail("write_image: " + ec.message());
        return;
      }
      wait_ns += std::chrono::nanoseconds(t1 - t0).count();
      encode_ns += std::chrono::nanoseconds(t2 - t1).count();
      written.store(n + 1);
    }
  });

  struct snapshot {
    clock_type::time_point when;
    double cpu;
    std::uint64_t received, written, bytes;
    std::int64_t encode_ns, wait_ns;
  };
  auto take = [&] {
    return snapshot{clock_type::now(),      process_cpu_seconds(),  checker.received(),
                    written.load(),         link->stats().bytes_in, encode_ns.load(),
                    wait_ns.load()};
  };
  sleep_for_seconds(opt.warmup);
  const snapshot a = take();
  sleep_for_seconds(opt.seconds);
  const snapshot b = take();
  producer.request_stop();
  producer.join();

  // A pending frame is queued only when the one in flight is acknowledged;
  // the closing message must not overtake it.
  if (!camera->wait_for_image_slot(patience)) checker.fail("the last frame never left");
  camera->write("done", written.load());
  if (!checker.wait_done(patience)) checker.fail("the receiver never saw the end of the stream");

  const double s = std::chrono::duration<double>(b.when - a.when).count();
  // A frame's time is counted when the frame is done, so one that straddles
  // the window's edge could tip a share past 100%.
  auto share = [ns = s * 1e9](std::int64_t busy) {
    return std::clamp(static_cast<double>(busy) / ns, 0.0, 1.0);
  };
  return {.fps = static_cast<double>(b.received - a.received) / s,
          .written_per_s = static_cast<double>(b.written - a.written) / s,
          .wire_mb_per_s = static_cast<double>(b.bytes - a.bytes) / s / 1e6,
          .sender_encoding = share(b.encode_ns - a.encode_ns),
          .sender_waiting = share(b.wait_ns - a.wait_ns),
          .cores_busy = (b.cpu - a.cpu) / s,
          .received = checker.received(),
          .problem = checker.problem()};
}

// --- output ----------------------------------------------------------------

// Frames per second a link of `bits_per_s` can carry when it is the only
// limit (TCP and IP headers ignored: they add about 3%).
double link_cap(double line_bytes, double bits_per_s) { return bits_per_s / 8 / line_bytes; }

bool report_problem(const char* what, const stream_result& r) {
  if (r.problem.empty()) return false;
  std::printf("FAILED (%s): %s\n", what, r.problem.c_str());
  return true;
}

int run(const options& opt) {
  std::printf("socketengine image benchmark: 640x480 BGR frames, legacy protocol "
              "(PNG, base64, one JSON line), hub to hub over loopback\n");
  const double others = cores_busy_before(std::chrono::milliseconds(500));
  std::printf("machine: %u cores (nproc), %s; %.2f cores busy with other work before the run%s\n",
              usable_cores(), cpu_model().c_str(), others,
              others > 0.2 ? " (expect lower and noisier numbers)" : "");
#ifndef NDEBUG
  std::printf("warning: built without NDEBUG, not a release build: times are not representative\n");
#endif

  auto t0 = clock_type::now();
  const auto frames = make_frames(opt.frames);
  std::printf("frames: %zu distinct frames of a synthetic landscape video, generated in %.1f s\n\n",
              frames.size(), ms_between(t0, clock_type::now()) / 1000);

  std::vector<int> levels(std::begin(table_levels), std::end(table_levels));
  if (std::find(levels.begin(), levels.end(), opt.level) == levels.end()) {
    levels.push_back(opt.level);
    std::sort(levels.begin(), levels.end());
  }

  std::printf("Per frame (median of %zu), and distinct frames per second received, paced with "
              "wait_for_image_slot (%.1f s after %.1f s warm-up):\n",
              opt.codec_samples, opt.seconds, opt.warmup);
  std::printf("  level   PNG KB  line KB  PNG encode ms  PNG decode ms  loopback fps  "
              "sender encoding  est. fps at 100 Mbit/s, 1 Gbit/s\n");
  std::vector<codec_cost> costs;
  std::vector<stream_result> streams;
  bool failed = false;
  for (int level : levels) {
    auto cost = measure_codec(frames, opt.codec_samples, level, level == opt.level);
    auto stream = run_stream(frames, level, /*paced=*/true, opt);
    // On a real link the sender still encodes frame n+1 while frame n
    // travels: whichever is slower sets the pace.
    std::printf("  %5d  %7.1f  %7.1f  %13.1f  %13.1f  %12.1f  %14.0f%%  %13.1f, %.1f\n", level,
                cost.png_bytes / 1000, cost.line_bytes / 1000, cost.png_encode_ms,
                cost.png_decode_ms, stream.fps, 100 * stream.sender_encoding,
                std::min(stream.fps, link_cap(cost.line_bytes, 100e6)),
                std::min(stream.fps, link_cap(cost.line_bytes, 1e9)));
    failed |= report_problem("paced stream", stream);
    costs.push_back(cost);
    streams.push_back(stream);
  }

  const auto at = static_cast<std::size_t>(
      std::find(levels.begin(), levels.end(), opt.level) - levels.begin());
  const codec_cost& cost = costs[at];
  const stream_result& paced = streams[at];

  std::printf("\nAt level %d, per frame:\n", opt.level);
  std::printf("  sender:   PNG encode %.2f ms + base64 %.2f ms; the whole line %.2f ms "
              "(%.0f KB PNG -> %.0f KB line)\n",
              cost.png_encode_ms, cost.base64_encode_ms, cost.line_encode_ms,
              cost.png_bytes / 1000, cost.line_bytes / 1000);
  std::printf("  receiver: line scan %.2f ms + base64 %.2f ms + PNG decode %.2f ms; "
              "decode_image_data with the scan %.2f ms\n",
              cost.scan_ms, cost.base64_decode_ms, cost.png_decode_ms, cost.line_decode_ms);
  std::printf("  paced stream: %.1f fps, %.1f MB/s on the wire; sender thread %.0f%% encoding, "
              "%.0f%% waiting for the slot; %.2f of %u cores busy\n",
              paced.fps, paced.wire_mb_per_s, 100 * paced.sender_encoding,
              100 * paced.sender_waiting, paced.cores_busy, usable_cores());

  const auto free_running = run_stream(frames, opt.level, /*paced=*/false, opt);
  std::printf("  latest frame wins, unpaced: %.1f fps received of %.1f written per second "
              "(%.0f%% replaced before they could go); %.2f cores busy\n",
              free_running.fps, free_running.written_per_s,
              free_running.written_per_s > 0
                  ? std::max(0.0, 100 * (1 - free_running.fps / free_running.written_per_s))
                  : 0.0,
              free_running.cores_busy);
  failed |= report_problem("unpaced stream", free_running);

  std::uint64_t checked = free_running.received;
  for (const auto& s : streams) checked += s.received;
  if (failed)
    std::printf("\nFAILED: the frames received are not the frames sent (see above)\n");
  else
    std::printf("\nverified: %llu frames received, each identical to the frame sent\n",
                static_cast<unsigned long long>(checked));

  std::printf("{\"legacy_png_frames_per_s\": %.1f, \"png_bytes_per_frame\": %.0f, "
              "\"line_bytes_per_frame\": %.0f, \"encode_ms\": %.2f, \"decode_ms\": %.2f, "
              "\"line_encode_ms\": %.2f, \"line_decode_ms\": %.2f, \"png_level\": %d, "
              "\"latest_frame_wins_frames_per_s\": %.1f, \"frames_verified\": %llu, "
              "\"verified\": %s}\n",
              paced.fps, cost.png_bytes, cost.line_bytes, cost.png_encode_ms, cost.png_decode_ms,
              cost.line_encode_ms, cost.line_decode_ms, opt.level, free_running.fps,
              static_cast<unsigned long long>(checked), failed ? "false" : "true");
  return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) try {
  int status = 0;
  const auto opt = parse_args(argc, argv, status);
  if (!opt) return status;
  return run(*opt);
} catch (const std::exception& e) {
  std::fflush(stdout);
  std::fprintf(stderr, "socketengine-image-bench: %s\n", e.what());
  return 1;
}
