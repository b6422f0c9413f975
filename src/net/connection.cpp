#include "net/connection_impl.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <sys/socket.h>

#include <socketengine/error.hpp>

#include "engine/engine_core.hpp"
#include "protocol/legacy/base64.hpp"
#include "image/png.hpp"
#include "wire/legacy_codec.hpp"
#include "wire/native_codec.hpp"

namespace socketengine {

namespace {
// A buffer that held one large message is given back rather than kept by
// an idle connection.
constexpr std::size_t keep_write_capacity = 256 * 1024;
// The engine never reads less than this at a time: the seed's 256-byte reads
// are one of the reasons it was slow.
constexpr std::size_t min_read_size = 4096;
// A native frame may always hold the largest raw image accepted (max_pixels
// of 4 samples) with its headers, whatever max_line_bytes says.
constexpr std::uint64_t max_image_frame_overhead = 64 * 1024;
// Bytes of native frames taken per read: a few thousand small messages.
// Held only while frames are coming in (see read_frames).
constexpr std::size_t frame_buffer_size = 64 * 1024;
// A message written to an idle connection goes to the socket from the
// writer's thread, without waking the I/O thread: that saves a thread
// switch, about a third of a round trip over loopback. Not for large
// messages, which the I/O thread writes as the socket takes them, and not
// more than once per this interval, so that a stream of messages is still
// coalesced into few writes by the I/O thread.
constexpr std::size_t direct_send_max = 16 * 1024;
constexpr std::chrono::microseconds direct_send_interval{20};
// How long a wait watches for a store before it sleeps (see wait_store).
constexpr std::chrono::microseconds wait_spin{100};

// Adds to a counter that one thread at a time writes (the I/O thread, or
// whoever holds the lock guarding it): a plain load and store, where a
// locked read-modify-write would cost as much as the rest of the handling
// of a small message. Readers (stats()) see a recent count.
void add_exclusive(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
// How long a closing connection waits, once its queue is written, for the
// peer to close in turn (see do_write).
constexpr std::chrono::milliseconds close_linger{250};
} // namespace

connection::impl::impl(const std::shared_ptr<detail::engine_core>& core, asio::ip::tcp::socket s,
                       connection_kind kind, std::string name, std::string address,
                       std::uint16_t port)
    : core_(core), core_raw_(core.get()), kind_(kind), address_(std::move(address)), port_(port),
      limits_(core->config().lim), images_(core->config().images),
      hub_protocol_(core->config().hub_protocol), offer_native_(core->config().native),
      fd_(s.native_handle()), socket_(std::move(s)),
      reader_(limits_.max_line_bytes, std::max(min_read_size, core->config().read_size)),
      frames_(std::max<std::uint64_t>(limits_.max_line_bytes,
                                      images_.max_pixels * 4 + max_image_frame_overhead),
              frame_buffer_size),
      name_(std::move(name)) {}

namespace detail {

const std::shared_ptr<const std::string>& image_forms::get(bool native) {
  auto& form = forms_[native ? 1 : 0];
  if (form) return form;
  bool as_png = !native || encoding_ == image_encoding::png;
  if (as_png && png_.empty()) png::encode(img_, options_.png_compression, png_);
  std::span<const std::uint8_t> png_bytes(reinterpret_cast<const std::uint8_t*>(png_.data()),
                                          png_.size());
  if (!native) {
    auto line = std::make_shared<std::string>();
    append_image_line(*line, channel_, png_bytes);
    form = std::move(line);
  } else if (as_png) {
    auto frame = std::make_shared<std::string>();
    native::append_png_image(*frame, img_, png_bytes);
    form = std::move(frame);
  } else {
    form = native::encode_image(img_, encoding_, options_.png_compression, options_.jpeg_quality);
  }
  return form;
}

} // namespace detail

// --- I/O thread ------------------------------------------------------------

void connection::impl::start(const std::shared_ptr<connection>& self) {
  do_read(self);
  do_write(self);
}

void connection::impl::release_socket_when_idle() {
  // The socket goes only once no read or write handler can touch it again
  // (a composed async_write keeps a reference to it between its steps),
  // and always here on the I/O thread, while its io_context surely lives: a
  // user may keep this connection long after the engine is gone.
  if (!io_closed_ || read_in_flight_ || write_in_flight_) return;
  socket_.reset();
  // A closed connection keeps no buffers; but not while the read handler is
  // still walking the buffer (it calls this again when done).
  if (!in_read_handler_) {
    reader_.release();
    frames_.release();
  }
}

void connection::impl::do_read(const std::shared_ptr<connection>& self) {
  auto& me = *self->impl_;
  if (me.io_closed_) return;
  if (me.native_in_) return read_frames(self);
  auto space = me.reader_.prepare();
  me.read_in_flight_ = true;
  me.socket_->async_read_some(
      asio::buffer(space.data(), space.size()), [self](std::error_code ec, std::size_t n) {
        auto& me = *self->impl_;
        me.read_in_flight_ = false;
        if (me.io_closed_) return me.release_socket_when_idle();
        if (ec) return read_ended(self, ec);
        add_exclusive(me.bytes_in_, n);
        me.reader_.commit(n);
        me.in_read_handler_ = true;
        bool fits = me.reader_.consume([&](std::string_view line) {
          if (me.io_closed_) return me.reader_.stop();
          handle_line(self, line);
          if (me.native_in_) me.reader_.stop(); // what follows is frames
        });
        me.in_read_handler_ = false;
        if (me.io_closed_) return me.release_socket_when_idle();
        if (me.native_in_) {
          // Frames are read without a pending read (see read_frames), so
          // the socket's reads must not block.
          std::error_code nb_ec;
          me.socket_->non_blocking(true, nb_ec);
          if (nb_ec) return finish_close(self, detail::portable(nb_ec));
          // The rest of this read is the first frames.
          me.frames_.assign(me.reader_.rest());
          me.reader_.release();
          if (!me.consume_frames(self)) return;
          return read_frames(self);
        }
        if (!fits) {
          me.reject(self, errc::line_too_long,
                    "line longer than " + std::to_string(me.limits_.max_line_bytes) +
                        " bytes; closing the connection");
          finish_close(self, errc::line_too_long);
          return;
        }
        me.reader_.shrink_if_idle();
        do_read(self);
      });
}

void connection::impl::read_ended(const std::shared_ptr<connection>& self, std::error_code ec) {
  // EOF after our own half-close is the end of a graceful close.
  finish_close(self, ec == asio::error::eof ? make_error_code(errc::peer_eof) : detail::portable(ec));
}

void connection::impl::read_frames(const std::shared_ptr<connection>& self) {
  auto& me = *self->impl_;
  // Reads as long as the socket has bytes, a few times over before giving
  // other connections their turn, then waits for readability rather than
  // with a read pending: a pending read needs its buffer, and the reader
  // lets go of its buffer whenever it is empty, so an idle connection
  // holds none.
  for (int turn = 0; turn < 8; ++turn) {
    if (me.io_closed_) return;
    auto space = me.frames_.prepare();
    std::error_code ec;
    std::size_t n = me.socket_->read_some(asio::buffer(space.data(), space.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      // The buffer stays for the next frames: allocating it again for each
      // message (and the page faults of memory the allocator gave back)
      // costs a third of a round trip. The engine lets go of idle
      // connections' buffers every second (release_idle_buffer).
      me.read_in_flight_ = true;
      me.socket_->async_wait(asio::socket_base::wait_read, [self](std::error_code wait_ec) {
        auto& me = *self->impl_;
        me.read_in_flight_ = false;
        if (me.io_closed_) return me.release_socket_when_idle();
        if (wait_ec) return finish_close(self, detail::portable(wait_ec));
        read_frames(self);
      });
      return;
    }
    if (ec) return read_ended(self, ec);
    add_exclusive(me.bytes_in_, n);
    me.frames_.commit(n);
    if (!me.consume_frames(self)) return;
  }
  me.read_in_flight_ = true;
  asio::post(me.core_raw_->io(), [self] {
    auto& me = *self->impl_;
    me.read_in_flight_ = false;
    if (me.io_closed_) return me.release_socket_when_idle();
    read_frames(self);
  });
}

void connection::impl::release_idle_buffer() {
  // Frames are read without a pending read (see read_frames), so between
  // handlers the frame buffer is free to go when it holds nothing.
  if (native_in_ && !io_closed_ && !in_read_handler_) frames_.release_if_empty();
}

bool connection::impl::consume_frames(const std::shared_ptr<connection>& self) {
  in_read_handler_ = true;
  bool sound = true;
  try {
    sound = frames_.consume([&](std::span<const std::uint8_t> body,
                                std::shared_ptr<const void> owner) {
      if (io_closed_) return frames_.stop();
      handle_frame(self, body, std::move(owner));
    });
  } catch (const std::bad_alloc&) {
    // A frame within the limit that the system will not hold: the stream
    // cannot go on without it.
    in_read_handler_ = false;
    reject(self, std::make_error_code(std::errc::not_enough_memory),
           "out of memory for a frame of " + std::to_string(frames_.wanted()) +
               " bytes; closing the connection");
    finish_close(self, std::make_error_code(std::errc::not_enough_memory));
    return false;
  }
  in_read_handler_ = false;
  if (io_closed_) {
    release_socket_when_idle();
    return false;
  }
  if (!sound) {
    auto size = frames_.bad_size();
    reject(self, errc::frame_too_large,
           size > limits_.max_line_bytes
               ? "frame of " + std::to_string(size) + " bytes is over the limit of " +
                     std::to_string(limits_.max_line_bytes) + "; closing the connection"
               : "frame size " + std::to_string(size) +
                     " is too short for a frame header; closing the connection");
    finish_close(self, errc::frame_too_large);
    return false;
  }
  return true;
}

void connection::impl::handle_line(const std::shared_ptr<connection>& self, std::string_view line) {
  auto& me = *self->impl_;
  const auto image_channel = me.core_raw_->image_channel();
  // An image line as the known peers write it skips the JSON parser.
  if (auto text = detail::match_image_line(line, image_channel)) {
    // Host/client images are also an ordinary value on `image`, as the
    // Node.js host and client keep them.
    if (!me.hub_protocol_)
      me.deliver(self, image_channel, value(std::string(*text)), line.size());
    me.receive_image(self, *text);
    return;
  }

  auto r = detail::decode_line(line, me.limits_.max_depth);
  if (r.what == detail::decode_result::status::blank) return;
  if (r.what == detail::decode_result::status::error)
    return me.reject(self, r.error, std::move(r.detail));
  me.handle_message(self, r.message.channel, std::move(r.message.data), line.size());
}

void connection::impl::handle_message(const std::shared_ptr<connection>& self,
                                      std::string& channel, value&& data, std::size_t wire_bytes) {
  namespace ch = detail::channels;
  if (channel == ch::native) return handle_native_line(self, data);
  if (hub_protocol_ && channel == ch::image) {
    if (data.is_string()) {
      receive_image(self, data.get_ref<const std::string&>());
    } else {
      acknowledge_image(self);
      reject(self, errc::invalid_base64, "image data is not a string");
    }
    return;
  }
  if (hub_protocol_ && channel == ch::ack) return image_acknowledged(self, 1);
  if (bytes_hint_ && *bytes_hint_ == channel) {
    bytes_hint_.reset();
    if (!data.is_string()) return reject(self, errc::invalid_base64, "bytes value is not a string");
    const auto& text = data.get_ref<const std::string&>();
    value::binary_t::container_type bytes(detail::base64::max_decoded_size(text.size()));
    auto n = detail::base64::decode(text, bytes.data());
    if (!n) return reject(self, errc::invalid_base64, "bytes value is not base64");
    bytes.resize(*n);
    return deliver(self, channel, value::binary(std::move(bytes)), wire_bytes);
  }
  bool peer_closing = channel == ch::status && data.is_string() &&
                      data.get_ref<const std::string&>() == ch::closing;
  std::optional<std::string> image_text;
  if (!hub_protocol_ && channel == ch::plain_image && data.is_string())
    image_text = data.get_ref<const std::string&>();
  deliver(self, channel, std::move(data), wire_bytes);
  if (image_text) receive_image(self, *image_text);
  if (peer_closing) finish_close(self, errc::peer_closing);
}

void connection::impl::handle_native_line(const std::shared_ptr<connection>& self,
                                          const value& data) {
  // Never stored: these lines are the protocol's, not the application's.
  if (!data.is_object()) return;
  if (auto bytes = data.find("bytes"); bytes != data.end()) {
    // The next value on this channel is bytes, sent as base64 before the
    // switch (see append_legacy).
    if (bytes->is_string()) bytes_hint_ = bytes->get<std::string>();
    return;
  }
  if (auto offer = data.find("offer"); offer != data.end()) {
    // A peer offering any version speaks version 1 at least.
    if (offer_native_ && offer->is_number_integer() && offer->get<std::int64_t>() >= 1)
      switch_output(self);
    return;
  }
  if (auto to = data.find("switch"); to != data.end()) {
    if (!offer_native_ || native_in_) {
      // A peer switches only in answer to our offer, once.
      reject(self, errc::invalid_frame, "the peer switched to the native protocol unasked");
      return finish_close(self, errc::invalid_frame);
    }
    if (!to->is_number_integer() || to->get<std::int64_t>() != detail::native::version) {
      reject(self, errc::invalid_frame,
             "the peer switched to native protocol version " + to->dump() + ", not " +
                 std::to_string(detail::native::version));
      return finish_close(self, errc::invalid_frame);
    }
    native_in_ = true; // do_read hands the rest of the stream to the frame reader
  }
}

void connection::impl::append_legacy(std::string& out, std::string_view channel,
                                     const value& v) const {
  // Bytes become a base64 string on a line. A socketengine peer is told
  // first, on a line a legacy peer stores and ignores, so that it gets
  // bytes back whether or not the connection has switched yet.
  if (v.is_binary() && offer_native_)
    detail::append_line(out, detail::channels::native, value{{"bytes", channel}});
  detail::append_line(out, channel, v);
}

void connection::impl::switch_output(const std::shared_ptr<connection>& self) {
  auto core = core_raw_;
  std::lock_guard lk(write_mu_);
  if (native_out_.load(std::memory_order_relaxed) || state_ != state::open) return;
  // A pending frame was encoded for the legacy protocol: it goes ahead of
  // the switch line. The peer reads frames in a row either way, and the
  // native limit on frames in flight is at least the legacy one.
  if (pending_image_) start_image_locked(self, std::move(pending_image_), false, *core);
  std::string line;
  detail::append_line(line, detail::channels::native, value{{"switch", detail::native::version}});
  pending_.append(line);
  native_out_.store(true, std::memory_order_release);
  kick_locked(self, *core);
}

void connection::impl::handle_frame(const std::shared_ptr<connection>& self,
                                    std::span<const std::uint8_t> body,
                                    std::shared_ptr<const void> owner) {
  namespace nt = detail::native;
  std::string detail;
  auto f = nt::parse_frame(body, std::move(owner), detail);
  if (!f) return reject(self, errc::invalid_frame, std::move(detail));
  std::size_t wire_bytes = body.size() + nt::size_field;
  if (f->kind == nt::frame_kind::control) {
    switch (static_cast<nt::control_code>(f->payload[0])) {
    case nt::control_code::image_ack:
      if (f->payload.size() != 5)
        return reject(self, errc::invalid_frame, "image acknowledgement without its count");
      return image_acknowledged(self, nt::load_u32(f->payload.data() + 1));
    case nt::control_code::closing:
      deliver(self, detail::channels::status, value(std::string(detail::channels::closing)),
              wire_bytes);
      return finish_close(self, errc::peer_closing);
    }
    return reject(self, errc::invalid_frame,
                  "unknown control code " + std::to_string(f->payload[0]));
  }
  if (f->kind == nt::frame_kind::image) {
    // Acknowledged whether or not it decodes, as legacy images are, and
    // written before decoding: the sender encodes its next frame meanwhile.
    acknowledge_image(self);
    do_write(self);
    std::error_code ec;
    std::optional<image> img;
    try {
      img = nt::decode_image(*f, images_.max_pixels, ec, detail);
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      detail = "out of memory decoding an image frame of " + std::to_string(wire_bytes) + " bytes";
    }
    if (!img) return reject(self, ec, std::move(detail));
    return store_image(self, std::move(*img), /*count=*/true);
  }
  // Channel names are checked as UTF-8 when first stored (store_with).
  if (f->kind == nt::frame_kind::bytes) return deliver_bytes(self, f->channel, f->payload, wire_bytes);
  value v;
  std::string_view text(reinterpret_cast<const char*>(f->payload.data()), f->payload.size());
  if (auto ec = detail::decode_value(text, limits_.max_depth, v, detail))
    return reject(self, ec, std::move(detail));
  std::string channel(f->channel);
  handle_message(self, channel, std::move(v), wire_bytes);
}

void connection::impl::spin_for_store(std::uint64_t seen,
                                      std::chrono::steady_clock::time_point deadline) const {
  auto until = std::min(deadline, std::chrono::steady_clock::now() + wait_spin);
  while (stores_.load(std::memory_order_acquire) == seen) {
    if (std::chrono::steady_clock::now() >= until) return;
    // Yielding lets the thread that will store run on this core, where
    // there are fewer cores than busy threads.
    std::this_thread::yield();
  }
}

void connection::impl::reject(const std::shared_ptr<connection>& self, std::error_code ec,
                              std::string detail) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  core_raw_->post_error(self, ec, std::move(detail));
}

void connection::impl::deliver(const std::shared_ptr<connection>& self, std::string_view channel,
                               value&& v, std::size_t wire_bytes) {
  std::optional<value> copy;
  if (core_raw_->wants_messages()) copy = v;
  if (store(channel, std::move(v), self)) {
    if (copy) core_raw_->post_message(self, std::string(channel), std::move(*copy), wire_bytes);
    core_raw_->notify_channel_waiters(channel);
  }
}

void connection::impl::receive_image(const std::shared_ptr<connection>& self,
                                     std::string_view base64) {
  // Acknowledged whether or not it decodes: the sender waits for this
  // before its next frame, and one bad frame must not stall the stream.
  if (hub_protocol_) acknowledge_image(self);
  std::error_code ec;
  std::string detail;
  std::optional<image> img;
  try {
    img = detail::decode_image_data(base64, images_.max_pixels, ec, detail);
  } catch (const std::bad_alloc&) {
    // Within max_pixels but more than the system would give: this image is
    // lost, the connection is not.
    ec = std::make_error_code(std::errc::not_enough_memory);
    detail = "out of memory decoding an image of " + std::to_string(base64.size()) + " characters";
  }
  if (!img) return reject(self, ec, std::move(detail));
  // Host/client images were counted as the value on `image`.
  store_image(self, std::move(*img), /*count=*/hub_protocol_);
}

void connection::impl::store_image(const std::shared_ptr<connection>& self, image&& img,
                                   bool count) {
  bool wake = false;
  {
    std::lock_guard lk(store_mu_);
    image_ = img;
    image_version_ = ++version_;
    stores_.store(stores_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (count) add_exclusive(messages_in_, 1);
    wake = image_waiters_ > 0;
  }
  if (wake) store_cv_.notify_all();
  if (core_raw_->wants_images()) core_raw_->post_image(self, std::move(img));
}

void connection::impl::acknowledge_image(const std::shared_ptr<connection>& self) {
  // Owed acknowledgements go out with the next write, as one line or one
  // frame with a count (see do_write), so a peer that floods images and
  // never reads cannot grow the queue with them.
  std::lock_guard lk(write_mu_);
  if (state_ != state::open) return;
  ++acks_owed_;
  kick_locked(self, *core_raw_);
}

void connection::impl::image_acknowledged(const std::shared_ptr<connection>& self,
                                          std::uint32_t count) {
  {
    std::lock_guard lk(write_mu_);
    for (auto& f : images_out_) {
      if (count == 0) break;
      if (f.needs_ack && !f.acked) {
        f.acked = true;
        --count;
      }
    }
    // Any left over are stray acknowledgements, ignored. One that comes
    // before its image is fully written (a peer that repeats them, or one
    // that lies to make us queue frame after frame) counts only once the
    // image is written, so the socket, not the peer's word, paces frames.
    if (!retire_images_locked(self)) return;
  }
  write_cv_.notify_all(); // wait_for_image_slot
}

std::size_t connection::impl::image_limit_locked() const noexcept {
  if (!native_out_.load(std::memory_order_relaxed)) return 1;
  return static_cast<std::size_t>(std::max(images_.max_frames_in_flight, 1));
}

bool connection::impl::retire_images_locked(const std::shared_ptr<connection>& self) {
  bool changed = false;
  while (!images_out_.empty()) {
    auto& f = images_out_.front();
    if (written_total_ < f.end || (f.needs_ack && !f.acked)) break;
    images_out_.pop_front();
    changed = true;
  }
  if (pending_image_ && state_ == state::open && images_out_.size() < image_limit_locked()) {
    // The pending frame takes its place; like it, it is not held to the
    // queue bound (see connection::write_image).
    try {
      start_image_locked(self, std::move(pending_image_), native_out_.load(), *core_raw_);
    } catch (const std::bad_alloc&) {
      // The frame is lost; the next write_image sends at once.
    }
    pending_image_.reset();
    changed = true;
  }
  return changed;
}

void connection::impl::start_image_locked(const std::shared_ptr<connection>& self,
                                          std::shared_ptr<const std::string> bytes, bool native,
                                          detail::engine_core& core) {
  pending_.append_shared(std::move(bytes));
  add_exclusive(messages_out_, 1);
  // Native peers acknowledge every image; legacy hubs too, legacy hosts
  // and clients never.
  images_out_.push_back({written_total_ + inflight_.size() + pending_.size(),
                         native || hub_protocol_, false});
  kick_locked(self, core);
}

image_status connection::impl::send_image(const std::shared_ptr<connection>& self,
                                          detail::image_forms& forms, std::error_code& ec) {
  ec.clear();
  auto core = core_.lock();
  if (!core) {
    ec = errc::not_connected;
    return image_status::dropped;
  }
  for (;;) {
    bool native = sends_native();
    auto bytes = forms.get(native);
    std::lock_guard lk(write_mu_);
    if (state_ != state::open) {
      ec = errc::not_connected;
      return image_status::dropped;
    }
    if (native_out_.load(std::memory_order_relaxed) != native) continue; // switched: encode again
    if (images_out_.size() >= image_limit_locked()) {
      if (!images_.latest_frame_wins) return image_status::dropped;
      pending_image_ = std::move(bytes);
      return image_status::pending;
    }
    start_image_locked(self, std::move(bytes), native, *core);
    return image_status::sent;
  }
}

bool connection::impl::store(std::string_view channel, value&& v,
                             const std::shared_ptr<connection>& self) {
  if (channel == detail::channels::name_conn && v.is_string()) {
    std::lock_guard lk(store_mu_);
    name_ = v.get_ref<const std::string&>();
  }
  return store_with(channel, self, [&](value& slot) { slot = std::move(v); });
}

template <class Assign>
bool connection::impl::store_with(std::string_view channel, const std::shared_ptr<connection>& self,
                                  Assign&& assign) {
  bool wake = false;
  {
    std::lock_guard lk(store_mu_);
    auto it = values_.find(channel);
    if (it == values_.end()) {
      // A name already stored was checked then; a line's was checked with
      // the line, but a frame's channel is checked only here, once.
      if (!detail::is_utf8(channel)) {
        reject(self, errc::invalid_utf8, "channel name is not UTF-8");
        return false;
      }
      // Reserved channels are exempt, so a peer past the limit can still
      // name itself and say it is closing.
      namespace ch = detail::channels;
      bool reserved = channel == ch::name_conn || channel == ch::status || channel == ch::image ||
                      channel == ch::ack;
      if (values_.size() >= limits_.max_channels && !reserved) {
        reject(self, errc::too_many_channels,
               "channel \"" + std::string(channel.substr(0, 64)) + "\" is past the limit of " +
                   std::to_string(limits_.max_channels));
        return false;
      }
      it = values_.emplace(channel, entry{value(), 0}).first;
    }
    assign(it->second.data);
    it->second.version = ++version_;
    stores_.store(stores_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // Counted before waiters wake, so a reader that saw the value sees the count.
    add_exclusive(messages_in_, 1);
    // Only a reader of this channel is woken: one waiting for "done" while
    // thousands of values flow on "x" would otherwise wake for each.
    wake = waited_channels_.contains(channel);
  }
  if (wake) store_cv_.notify_all();
  return true;
}

void connection::impl::deliver_bytes(const std::shared_ptr<connection>& self,
                                     std::string_view channel, std::span<const std::uint8_t> bytes,
                                     std::size_t wire_bytes) {
  auto make = [&] { return value::binary(value::binary_t::container_type(bytes.begin(), bytes.end())); };
  bool stored = store_with(channel, self, [&](value& slot) {
    // The last value's buffer is reused when it held bytes too: a stream
    // of bytes on one channel then allocates nothing per message.
    if (slot.is_binary())
      slot.get_binary().assign(bytes.begin(), bytes.end());
    else
      slot = make();
  });
  if (!stored) return;
  if (core_raw_->wants_messages()) core_raw_->post_message(self, std::string(channel), make(), wire_bytes);
  core_raw_->notify_channel_waiters(channel);
}

void connection::impl::do_write(const std::shared_ptr<connection>& self) {
  auto& me = *self->impl_;
  if (me.write_in_flight_ || me.io_closed_) return; // a completion handler continues
  std::unique_lock lk(me.write_mu_);
  if (me.acks_owed_ > 0 && me.state_ != state::closed) {
    // Written in the protocol this side sends now, at the end of what is
    // queued: acknowledgements need no particular place in the stream.
    std::string ack;
    if (me.native_out_.load(std::memory_order_relaxed))
      detail::native::append_ack(ack, me.acks_owed_);
    else
      detail::append_line(ack, detail::channels::ack, std::string(detail::channels::ack));
    me.pending_.append(ack);
    me.acks_owed_ = 0;
  }
  if (me.pending_.empty()) {
    me.writing_ = false;
    bool closing = me.state_ == state::closing;
    lk.unlock();
    me.write_cv_.notify_all();
    if (closing) {
      // All written: send FIN but keep reading until the peer closes too.
      // Closing a socket with unread input would send an RST instead, and
      // the peer could lose what we just wrote (`__closing` included). Not
      // every peer closes in turn (the Python client never does), so the
      // wait is short.
      std::error_code ignored;
      me.socket_->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      auto linger = std::chrono::steady_clock::now() + close_linger;
      if (auto timer = me.close_timer_.lock(); timer && timer->expiry() > linger)
        me.arm_close_timer(self, linger);
    }
    return;
  }
  // Everything queued since the last write goes out in one call: small
  // messages coalesce into few syscalls under load.
  me.writing_ = true;
  me.pending_.swap(me.inflight_);
  auto buffers = me.inflight_.buffers();
  lk.unlock();
  me.write_in_flight_ = true;
  asio::async_write(*me.socket_, buffers, [self](std::error_code ec, std::size_t n) {
    auto& me = *self->impl_;
    me.write_in_flight_ = false;
    {
      std::lock_guard lk(me.write_mu_);
      add_exclusive(me.bytes_out_, n);
      me.written_total_ += n;
      me.inflight_.clear(keep_write_capacity);
      // Images that need no acknowledgement are done once written; so are
      // those acknowledged early. The write started below takes the
      // pending frame, if one got room.
      me.retire_images_locked(self);
    }
    me.write_cv_.notify_all();
    if (me.io_closed_) return me.release_socket_when_idle();
    if (ec) return finish_close(self, detail::portable(ec));
    do_write(self);
  });
}

void connection::impl::queue_greeting(std::string_view first_line) {
  std::lock_guard lk(write_mu_);
  if (!first_line.empty()) {
    pending_.append(first_line);
    add_exclusive(messages_out_, 1);
  }
  if (offer_native_) {
    // The offer is a legacy line that socket.engine 0.3 peers store as a
    // value on a channel nobody reads; a socketengine peer answers it by
    // switching (docs/native-protocol.md).
    std::string line;
    detail::append_line(line, detail::channels::native, value{{"offer", detail::native::version}});
    pending_.append(line);
  }
}

void connection::impl::begin_close(const std::shared_ptr<connection>& self, std::error_code reason,
                                   bool send_status) {
  auto& me = *self->impl_;
  bool start_write = false;
  {
    std::lock_guard lk(me.write_mu_);
    if (me.state_ != state::open) return;
    me.state_ = state::closing;
    me.reason_ = reason;
    me.open_.store(false);
    if (send_status && me.hub_protocol_) {
      std::string bye;
      if (me.native_out_.load(std::memory_order_relaxed))
        detail::native::append_control(bye, detail::native::control_code::closing);
      else
        detail::append_line(bye, detail::channels::status, std::string(detail::channels::closing));
      me.pending_.append(bye);
      add_exclusive(me.messages_out_, 1);
    }
    if (!me.writing_) {
      me.writing_ = true;
      start_write = true;
    }
  }
  me.write_cv_.notify_all(); // blocked writers see the new state
  me.arm_close_timer(self, detail::deadline_after(me.core_raw_->timeout()));
  // Writes what is queued, then half-closes (see do_write).
  if (start_write) do_write(self);
}

void connection::impl::arm_close_timer(const std::shared_ptr<connection>& self,
                                       std::chrono::steady_clock::time_point deadline) {
  if (auto old = close_timer_.lock()) old->cancel();
  // The timer is owned by its own handler, so it is destroyed wherever the
  // handler is, always while the io_context lives; the connection keeps
  // only a weak reference to cancel it.
  auto timer = std::make_shared<asio::steady_timer>(core_raw_->io());
  timer->expires_at(deadline);
  close_timer_ = timer;
  timer->async_wait([self, timer](std::error_code ec) {
    if (!ec) finish_close(self, errc::closed_locally); // the flush or the peer took too long
  });
}

void connection::impl::finish_close(const std::shared_ptr<connection>& self, std::error_code reason) {
  auto& me = *self->impl_;
  if (me.io_closed_) return;
  me.io_closed_ = true;
  {
    std::lock_guard lk(me.write_mu_);
    me.state_ = state::closed;
    if (!me.reason_) me.reason_ = reason;
    me.pending_.release(); // give the memory back, not just the bytes
    me.pending_image_.reset();
    me.images_out_.clear();
    me.acks_owed_ = 0;
    me.open_.store(false);
  }
  me.write_cv_.notify_all();
  if (auto timer = me.close_timer_.lock()) timer->cancel();
  std::error_code ignored;
  me.socket_->close(ignored); // pending reads and writes complete as aborted
  me.release_socket_when_idle();
  {
    std::lock_guard lk(me.store_mu_);
    me.store_closed_ = true;
    me.stores_.store(me.stores_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // A closed connection keeps its last values, small as lines are, but
    // not its last image: one may take max_pixels x 4 bytes, and up to
    // max_closed_connections closed connections stay listed.
    me.image_ = image();
  }
  me.store_cv_.notify_all();
  me.core_raw_->on_connection_closed(self);
}

// --- any thread -------------------------------------------------------------

bool connection::impl::enqueue(const std::shared_ptr<connection>& self, std::string_view bytes,
                               bool native, std::error_code& ec, bool force) {
  ec.clear();
  std::unique_lock lk(write_mu_);
  if (state_ != state::open) {
    ec = errc::not_connected;
    return true;
  }
  // The engine lives while the connection is open: its close() closes
  // every connection (under write_mu_) before it goes.
  auto* core = core_raw_;
  auto queued = [&] { return pending_.size() + inflight_.size(); };
  auto full = [&] {
    // An oversized message still goes out alone, or it never could.
    return queued() > 0 && queued() + bytes.size() > limits_.max_write_queue_bytes;
  };
  if (!force && full()) {
    // The I/O thread cannot wait for itself to drain the queue.
    if (limits_.on_full_queue == overflow_policy::fail || core->running_on_io_thread()) {
      ec = errc::queue_full;
      return true;
    }
    auto deadline = detail::deadline_after(core->timeout());
    if (!write_cv_.wait_until(lk, deadline, [&] { return state_ != state::open || !full(); })) {
      ec = errc::queue_full;
      return true;
    }
    if (state_ != state::open) {
      ec = errc::not_connected;
      return true;
    }
  }
  if (native_out_.load(std::memory_order_relaxed) != native) return false;
  add_exclusive(messages_out_, 1);
  if (!writing_ && pending_.empty() && bytes.size() <= direct_send_max) {
    // Nothing is being written (writing_ is false under write_mu_, so no
    // write is under way or posted) and the socket is open (state_ is, and
    // finish_close takes write_mu_ before closing it): the bytes may go to
    // the socket from here. What it does not take, the I/O thread writes.
    auto now = std::chrono::steady_clock::now();
    if (now - last_direct_send_ >= direct_send_interval) {
      last_direct_send_ = now;
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        auto sent = static_cast<std::size_t>(n);
        written_total_ += sent;
        add_exclusive(bytes_out_, sent);
        bytes.remove_prefix(sent);
        if (bytes.empty()) return true;
      }
      // An error is left for the I/O thread's write to meet and report.
    }
  }
  pending_.append(bytes);
  kick_locked(self, *core);
  return true;
}

void connection::impl::kick_locked(const std::shared_ptr<connection>& self,
                                   detail::engine_core& core) {
  if (writing_) return;
  writing_ = true;
  // Cannot fail to run: state_ is open, so the engine has not closed yet,
  // and its close() drains the I/O thread before stopping it.
  asio::post(core.io(), [self] { do_write(self); });
}

// --- public API -------------------------------------------------------------

connection::connection(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
connection::~connection() = default;

std::optional<value> connection::get(std::string_view channel) const {
  std::lock_guard lk(impl_->store_mu_);
  auto it = impl_->values_.find(channel);
  if (it == impl_->values_.end()) return std::nullopt;
  return it->second.data;
}

std::optional<value> connection::wait_for(std::string_view channel,
                                          std::chrono::milliseconds timeout) const {
  auto& me = *impl_;
  std::unique_lock lk(me.store_mu_);
  auto registered = me.waited_channels_.add(channel);
  auto it = me.values_.end();
  me.wait_store(lk, detail::deadline_after(timeout), [&] {
    it = me.values_.find(channel);
    return it != me.values_.end() || me.store_closed_;
  });
  if (it == me.values_.end()) return std::nullopt;
  return it->second.data;
}

std::uint64_t connection::version(std::string_view channel) const {
  std::lock_guard lk(impl_->store_mu_);
  auto it = impl_->values_.find(channel);
  return it == impl_->values_.end() ? 0 : it->second.version;
}

std::optional<value> connection::wait_for_next(std::string_view channel,
                                               std::chrono::milliseconds timeout) const {
  return wait_for_next(channel, timeout, version(channel));
}

std::optional<value> connection::wait_for_next(std::string_view channel,
                                               std::chrono::milliseconds timeout,
                                               std::uint64_t since) const {
  auto& me = *impl_;
  std::unique_lock lk(me.store_mu_);
  auto registered = me.waited_channels_.add(channel);
  auto it = me.values_.end();
  std::uint64_t seen = since;
  bool fresh = me.wait_store(lk, detail::deadline_after(timeout), [&] {
    it = me.values_.find(channel);
    return (it != me.values_.end() && it->second.version > seen) || me.store_closed_;
  });
  if (!fresh || it == me.values_.end() || it->second.version <= seen) return std::nullopt;
  return it->second.data;
}

namespace {
// write_encoded, with what encoding throws reported in `ec`: an invalid
// string, a channel name too long for a frame, or no memory.
template <class Encode>
void write_reporting(connection::impl& me, const std::shared_ptr<connection>& self,
                     Encode&& encode, std::error_code& ec) noexcept {
  try {
    me.write_encoded(self, encode, ec);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {
    ec = std::make_error_code(std::errc::invalid_argument);
  }
}
} // namespace

void connection::write(std::string_view channel, const value& v) {
  std::error_code ec;
  write(channel, v, ec);
  if (ec) throw std::system_error(ec, "socketengine: write on \"" + std::string(channel) + "\"");
}

void connection::write(std::string_view channel, const value& v, std::error_code& ec) noexcept {
  write_reporting(
      *impl_, shared_from_this(),
      [&](std::string& out, bool native) {
        if (native)
          detail::native::append_value(out, channel, v);
        else
          impl_->append_legacy(out, channel, v);
      },
      ec);
}

void connection::write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes) {
  std::error_code ec;
  write_bytes(channel, bytes, ec);
  if (ec) throw std::system_error(ec, "socketengine: write_bytes on \"" + std::string(channel) + "\"");
}

void connection::write_bytes(std::string_view channel, std::span<const std::uint8_t> bytes,
                             std::error_code& ec) noexcept {
  write_reporting(
      *impl_, shared_from_this(),
      [&](std::string& out, bool native) {
        if (native)
          detail::native::append_bytes(out, channel, bytes);
        else
          impl_->append_legacy(
              out, channel,
              value::binary(value::binary_t::container_type(bytes.begin(), bytes.end())));
      },
      ec);
}

image_status connection::write_image(const image& img) {
  return write_image(img, impl_->images_.encoding);
}

image_status connection::write_image(const image& img, std::error_code& ec) noexcept {
  return write_image(img, impl_->images_.encoding, ec);
}

image_status connection::write_image(const image& img, image_encoding encoding) {
  if (img.empty()) throw std::invalid_argument("socketengine: cannot send an empty image");
  std::error_code ec;
  auto status = write_image(img, encoding, ec);
  if (ec) throw std::system_error(ec, "socketengine: write_image");
  return status;
}

image_status connection::write_image(const image& img, image_encoding encoding,
                                     std::error_code& ec) noexcept {
  ec.clear();
  if (img.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return image_status::dropped;
  }
  auto& me = *impl_;
  if (!is_open()) {
    ec = errc::not_connected;
    return image_status::dropped;
  }
  // A frame that would be dropped is not worth encoding.
  if (!me.images_.latest_frame_wins && !can_write_image()) return image_status::dropped;
  try {
    auto core = me.core_.lock();
    if (!core) {
      ec = errc::not_connected;
      return image_status::dropped;
    }
    detail::image_forms forms(img, core->image_channel(), me.images_, encoding);
    return me.send_image(shared_from_this(), forms, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {
    ec = errc::invalid_image;
  }
  return image_status::dropped;
}

bool connection::can_write_image() const noexcept {
  std::lock_guard lk(impl_->write_mu_);
  return impl_->images_out_.size() < impl_->image_limit_locked();
}

bool connection::wait_for_image_slot(std::chrono::milliseconds timeout) const {
  auto& me = *impl_;
  std::unique_lock lk(me.write_mu_);
  return me.write_cv_.wait_until(lk, detail::deadline_after(timeout), [&] {
    return me.state_ != impl::state::open || !me.pending_image_;
  }) && me.state_ == impl::state::open;
}

std::optional<image> connection::get_image() const {
  std::lock_guard lk(impl_->store_mu_);
  if (impl_->image_.empty()) return std::nullopt;
  return impl_->image_;
}

std::optional<image> connection::wait_for_image(std::chrono::milliseconds timeout) const {
  return wait_for_next_image(timeout, 0);
}

std::optional<image> connection::wait_for_next_image(std::chrono::milliseconds timeout,
                                                     std::uint64_t since) const {
  auto& me = *impl_;
  std::unique_lock lk(me.store_mu_);
  ++me.image_waiters_;
  bool fresh = me.wait_store(lk, detail::deadline_after(timeout), [&] {
    return me.image_version_ > since || me.store_closed_;
  });
  --me.image_waiters_;
  // A closed connection has let go of its image (see finish_close).
  if (!fresh || me.image_version_ <= since || me.image_.empty()) return std::nullopt;
  return me.image_;
}

std::uint64_t connection::image_version() const {
  std::lock_guard lk(impl_->store_mu_);
  return impl_->image_version_;
}

bool connection::flush(std::chrono::milliseconds timeout) {
  auto& me = *impl_;
  std::unique_lock lk(me.write_mu_);
  return me.write_cv_.wait_until(lk, detail::deadline_after(timeout), [&] {
    return me.state_ == impl::state::closed || (me.pending_.empty() && !me.writing_);
  }) && me.pending_.empty() && !me.writing_;
}

void connection::close() {
  auto core = impl_->core_.lock();
  if (!core) return; // the engine is gone, and it closed every socket
  auto self = shared_from_this();
  // User code never runs on the I/O thread, so this always posts.
  if (!core->post_unless_closing([self] { impl::begin_close(self, errc::closed_locally, true); }))
    return; // the engine's close() ends it, bounded
  // begin_close bounds the flush by the timeout; allow it that, plus slack
  // for the I/O thread to get to it.
  auto deadline =
      detail::deadline_after(detail::saturating_add(core->timeout(), std::chrono::seconds(1)));
  std::unique_lock lk(impl_->write_mu_);
  impl_->write_cv_.wait_until(lk, deadline, [&] { return impl_->state_ == impl::state::closed; });
}

bool connection::is_open() const noexcept { return impl_->open_.load(); }

bool connection::is_native() const noexcept { return impl_->sends_native(); }

std::error_code connection::close_reason() const {
  std::lock_guard lk(impl_->write_mu_);
  return impl_->reason_;
}

std::string connection::name() const {
  std::lock_guard lk(impl_->store_mu_);
  return impl_->name_;
}

std::string connection::address() const { return impl_->address_; }
std::uint16_t connection::port() const noexcept { return impl_->port_; }
connection_kind connection::kind() const noexcept { return impl_->kind_; }

connection_stats connection::stats() const noexcept {
  auto& me = *impl_;
  return {me.messages_in_.load(), me.messages_out_.load(), me.bytes_in_.load(),
          me.bytes_out_.load(), me.errors_.load()};
}

} // namespace socketengine
