#include "protocol/native/reader.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <socketengine/error.hpp>

#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/line_codec.hpp"

namespace socketengine::detail::native {

namespace {
// A native frame may always hold the largest raw image accepted (max_pixels
// of 4 samples) with its headers, whatever max_line_bytes says.
constexpr std::uint64_t max_image_frame_overhead = 64 * 1024;
// Bytes of frames taken per read: a few thousand small messages. Held only
// while frames are coming in (see release_if_idle).
constexpr std::size_t frame_buffer_size = 64 * 1024;
} // namespace

reader::reader(const protocol::settings& s, int offered, std::string_view first)
    : settings_(s),
      frames_(std::max<std::uint64_t>(s.limits.max_line_bytes,
                                      s.images.max_pixels * 4 + max_image_frame_overhead),
              frame_buffer_size, s.budget.get(), s.frame_buffers.get()),
      lines_(s, offered, /*switched=*/true) {
  frames_.assign(first);
}

protocol::reader::outcome reader::consume(protocol::receiver& to) {
  if (job_) {
    // The large frame handed off at the last pause, decoded now.
    auto done = std::move(job_);
    job_taken_ = false;
    lines_.handle(to, std::move(done->result));
    if (!to.open()) return outcome::stopped;
  }
  bool sound = true;
  for (;;) {
    try {
      sound = frames_.consume([&](std::span<const std::uint8_t> body,
                                  std::shared_ptr<const void> owner) {
        handle_frame(to, body, std::move(owner));
        if (!to.open() || job_) frames_.stop();
      });
      break;
    } catch (const over_budget& e) {
      // Nothing was taken from the stream for the frame refused: once the
      // engine has made room, consuming starts again where it stopped.
      if (to.open() && to.make_room(e.wanted())) continue;
      to.fail(errc::over_budget, "a frame of " + std::to_string(frames_.wanted()) +
                                     " bytes would pass the engine's budget for what it "
                                     "received (" + std::to_string(e.used()) + " of " +
                                     std::to_string(e.limit()) +
                                     " bytes held); closing the connection");
      return outcome::stopped;
    } catch (const std::bad_alloc&) {
      // A frame within the limit that the system will not hold: the stream
      // cannot go on without it.
      to.fail(std::make_error_code(std::errc::not_enough_memory),
              "out of memory for a frame of " + std::to_string(frames_.wanted()) +
                  " bytes; closing the connection");
      return outcome::stopped;
    }
  }
  if (!to.open()) return outcome::stopped;
  if (job_) return outcome::paused;
  if (!sound) {
    auto size = frames_.bad_size();
    to.fail(errc::frame_too_large,
            size > settings_.limits.max_line_bytes
                ? "frame of " + std::to_string(size) + " bytes is over the limit of " +
                      std::to_string(settings_.limits.max_line_bytes) + "; closing the connection"
                : "frame size " + std::to_string(size) +
                      " is too short for a frame header; closing the connection");
    return outcome::stopped;
  }
  return outcome::more;
}

void reader::handle_frame(protocol::receiver& to, std::span<const std::uint8_t> body,
                          std::shared_ptr<const void> owner) {
  std::string detail;
  auto f = parse_frame(body, std::move(owner), detail);
  if (!f) return to.reject(errc::invalid_frame, std::move(detail));
  std::size_t wire_bytes = body.size() + size_field;
  switch (f->kind) {
  case frame_kind::control:
    switch (static_cast<control_code>(f->payload[0])) {
    case control_code::image_ack:
      if (f->payload.size() != 5)
        return to.reject(errc::invalid_frame, "image acknowledgement without its count");
      return to.images_acknowledged(load_u32(f->payload.data() + 1));
    case control_code::closing:
      to.value_received(legacy::channels::status, value(std::string(legacy::channels::closing)),
                        wire_bytes);
      return to.peer_closing();
    case control_code::ping: return to.ping_received();
    case control_code::pong: return; // its bytes are what the heartbeat wanted
    }
    return to.reject(errc::invalid_frame, "unknown control code " + std::to_string(f->payload[0]));
  case frame_kind::image: {
    // Acknowledged whether or not it decodes, as legacy images are.
    auto max_pixels = settings_.images.max_pixels;
    bool encoded = f->payload.size() >= image_header_size &&
                   f->payload[9] != static_cast<std::uint8_t>(wire_encoding::raw);
    if (encoded) {
      // PNG and JPEG decode off the I/O thread, taking the frame's bytes
      // along: its own buffer, or a copy of a small frame, whose bytes the
      // next read reuses.
      frame job = *f;
      job.channel = {};
      if (!job.owner) {
        auto copy = std::make_shared<std::vector<std::uint8_t>>(f->payload.begin(), f->payload.end());
        job.payload = *copy;
        job.owner = std::move(copy);
      }
      auto held = job.payload.size();
      return to.image_to_decode(
          [job = std::move(job), max_pixels](std::error_code& ec, std::string& d) {
            return decode_image(job, max_pixels, ec, d);
          },
          held, /*counted=*/true, /*acknowledge=*/true);
    }
    // Raw pixels take no decoding (a large frame's buffer becomes the
    // image's): in line, as fast as they came, and acknowledged first, so
    // that the sender sends its next frame meanwhile.
    to.image_needs_ack(/*now=*/true);
    std::error_code ec;
    std::optional<image> img;
    try {
      img = decode_image(*f, max_pixels, ec, detail);
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      detail = "out of memory decoding an image frame of " + std::to_string(wire_bytes) + " bytes";
    }
    if (!img) return to.reject(ec, std::move(detail));
    return to.image_received(std::move(*img), /*counted=*/true);
  }
  case frame_kind::bytes:
    // Channel names are checked as UTF-8 when first stored.
    return to.bytes_received(f->channel, f->payload, wire_bytes);
  case frame_kind::json: break;
  }
  std::string_view text(reinterpret_cast<const char*>(f->payload.data()), f->payload.size());
  if (text.size() >= protocol::off_thread_bytes) {
    // A large frame is in a buffer of its own, which the frame reader has
    // stopped charging for: charged again while the decoding holds it.
    // (One that came with the switch line is in the shared buffer, which
    // the next read reuses: copied.)
    auto owner = f->owner;
    if (!owner) {
      auto copy = std::make_shared<std::string>(text);
      text = *copy;
      owner = std::move(copy);
    }
    auto j = std::make_shared<job>(
        job{settings_, std::move(owner), text, {}, std::string(f->channel), wire_bytes, {}});
    if (settings_.budget) settings_.budget->charge(body.size());
    j->charge = budget_charge(settings_.budget.get(), body.size());
    job_ = std::move(j);
    return;
  }
  lines_.handle(to, decode_json(settings_, std::string(f->channel), text, wire_bytes));
}

legacy::prepared reader::decode_json(const protocol::settings& s, std::string&& channel,
                                     std::string_view text, std::size_t wire_bytes) {
  value v;
  legacy::prepared m;
  if (auto ec = legacy::decode_value(text, s.limits.max_depth, v, m.detail)) {
    m.what = legacy::prepared::kind::rejected;
    m.error = ec;
    return m;
  }
  return legacy::session::prepare_message(s, std::move(channel), std::move(v), wire_bytes);
}

std::function<void()> reader::take_work() {
  if (!job_ || std::exchange(job_taken_, true)) return {};
  return [j = job_] {
    try {
      j->result = decode_json(j->settings, std::move(j->channel), j->text, j->wire_bytes);
    } catch (const std::bad_alloc&) {
      j->result = {};
      j->result.what = legacy::prepared::kind::rejected;
      j->result.error = std::make_error_code(std::errc::not_enough_memory);
      j->result.detail = "out of memory decoding a frame of " + std::to_string(j->wire_bytes) +
                         " bytes";
    }
    // The frame's buffer goes as soon as it is decoded.
    j->owner.reset();
    j->charge.reset();
  };
}

} // namespace socketengine::detail::native
