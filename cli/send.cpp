// socketengine send: one value or picture, or a paced stream of them.

#include <sys/prctl.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"

namespace socketengine::cli {

namespace {

image_encoding parse_encoding(const std::string& name) {
  if (name == "png") return image_encoding::png;
  if (name == "jpeg") return image_encoding::jpeg;
  if (name == "raw") return image_encoding::raw;
  throw error(exit_usage, fmt::format("bad --encoding \"{}\": png, jpeg or raw", name));
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  auto at = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

} // namespace

int run_send(const send_args& a, const common_options& o, stop_signal& stop) {
  const bool sends_image = !a.image_file.empty();
  value v;
  image img;
  if (sends_image) {
    if (!a.channel.empty())
      throw error(exit_usage, "--image sends a picture on the image channel: give no CHANNEL "
                              "or VALUE with it");
    try {
      img = read_image_file(a.image_file);
    } catch (const std::system_error& e) {
      throw error(exit_usage, fmt::format("cannot send {}", e.what()));
    }
  } else {
    if (a.channel.empty() || !a.has_value)
      throw error(exit_usage, "send needs a CHANNEL and a VALUE (or --image FILE)");
    v = parse_value(a.value, a.as_string);
  }
  if (a.rate < 0 || !std::isfinite(a.rate))
    throw error(exit_usage, "--rate must be a number of messages per second, 0 or more");
  std::optional<image_encoding> encoding;
  if (!a.encoding.empty()) encoding = parse_encoding(a.encoding);

  auto h = make_hub(o, std::nullopt, {}, {});
  auto c = dial(*h, parse_address(a.address), o, stop);

  // Paced by deadlines from the start, not by a pause after each send: the
  // time a send takes does not add up, so the rate does not drift.
  using clock = std::chrono::steady_clock;
  const auto period = a.rate > 0 ? std::chrono::duration_cast<clock::duration>(
                                       std::chrono::duration<double>(1.0 / a.rate))
                                 : clock::duration::zero();
  // Linux lets a timed wait end up to 50 us late by default, to batch
  // wake-ups; a paced stream asks for its deadlines as they are.
  if (period > clock::duration::zero()) prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const auto start = clock::now();
  std::vector<double> lateness_us; // how late each send was against its deadline
  if (a.report && a.repeat != 0) lateness_us.reserve(std::min<std::uint64_t>(a.repeat, 1'000'000));
  std::uint64_t sent = 0;
  std::uint64_t dropped_images = 0;
  for (std::uint64_t i = 0; a.repeat == 0 || i < a.repeat; ++i) {
    if (period > clock::duration::zero()) {
      const auto due = start + period * static_cast<std::int64_t>(i);
      if (stop.wait_until(due)) break; // Ctrl-C or SIGTERM
      if (a.report && lateness_us.size() < 1'000'000)
        lateness_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - due).count());
    } else if (stop.poll()) {
      break;
    }
    std::error_code ec;
    if (sends_image) {
      // One frame in flight: wait for the slot rather than replace the
      // last frame, so that every picture asked for goes.
      if (a.repeat != 1 && !c->wait_for_image_slot(std::chrono::seconds(10))) {
        if (!c->is_open())
          throw error(exit_failure, fmt::format("the link to {} ended ({}) after {} sent",
                                                a.address, c->close_reason().message(), sent));
        throw error(exit_failure, "the peer did not take the last picture within 10 s");
      }
      auto status = encoding ? c->write_image(img, *encoding, ec) : c->write_image(img, ec);
      if (!ec && status != image_status::sent) ++dropped_images;
    } else {
      c->write(a.channel, v, ec);
    }
    if (ec) {
      if (!c->is_open())
        throw error(exit_failure, fmt::format("the link to {} ended ({}) after {} sent", a.address,
                                              c->close_reason().message(), sent));
      throw error(exit_failure, fmt::format("cannot send to {}: {}", a.address, ec.message()));
    }
    ++sent;
  }
  const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  if (!c->flush(std::chrono::seconds(10))) {
    if (!c->is_open())
      throw error(exit_failure, fmt::format("the link to {} ended ({}) with messages unsent",
                                            a.address, c->close_reason().message()));
    throw error(exit_failure, fmt::format("{} did not take what was sent within 10 s", a.address));
  }
  h->close();
  if (a.report) {
    fmt::print(stderr, "sent {} {} in {:.3f} s: {:.1f} a second", sent,
               sends_image ? "pictures" : "messages", elapsed,
               elapsed > 0 ? static_cast<double>(sent) / elapsed : 0.0);
    if (!lateness_us.empty())
      fmt::print(stderr, "; each sent after its time by {:.0f} us (median), {:.0f} us (p99)",
                 percentile(lateness_us, 0.5), percentile(lateness_us, 0.99));
    if (dropped_images) fmt::print(stderr, "; {} pictures replaced by newer ones", dropped_images);
    fmt::print(stderr, "\n");
  }
  // Stopped before the count asked for (--repeat 0 asks for no count: a
  // signal is its end).
  return stop.interrupted() && a.repeat != 0 && sent < a.repeat ? exit_interrupted : exit_ok;
}

} // namespace socketengine::cli
