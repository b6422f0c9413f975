// ZeroMQ cases of socketengine-bench, through libzmq's C API, set up as
// libzmq's own perf tools and imagezmq set it up (see socketengine_bench.cpp
// for why these settings are its best).

#include <zmq.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "image/jpeg.hpp"
#include "compare.hpp"

namespace compare {

namespace {

using socketengine::image;

[[noreturn]] void fail_zmq(const std::string& what) {
  throw failure("ZeroMQ " + what + ": " + zmq_strerror(zmq_errno()));
}

// Each side has a context of its own, and so an I/O thread of its own, as
// the two processes of local_thr/remote_thr have and as socketengine's two
// hubs have.
class context {
public:
  context() : p_(zmq_ctx_new()) {
    if (!p_) fail_zmq("zmq_ctx_new");
  }
  ~context() { zmq_ctx_term(p_); }
  context(const context&) = delete;
  context& operator=(const context&) = delete;
  [[nodiscard]] void* get() const noexcept { return p_; }

private:
  void* p_;
};

// A socket with the options every case wants: deadlines on both directions,
// so that a dead peer fails the case, and no linger, so that closing never
// waits for messages nobody will take (each case has checked its delivery
// by then).
class socket {
public:
  socket(const context& ctx, int type) : p_(zmq_socket(ctx.get(), type)) {
    if (!p_) fail_zmq("zmq_socket");
    const int ms = static_cast<int>(std::chrono::milliseconds(patience).count());
    set(ZMQ_RCVTIMEO, ms);
    set(ZMQ_SNDTIMEO, ms);
    set(ZMQ_LINGER, 0);
  }
  ~socket() { zmq_close(p_); }
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  [[nodiscard]] void* get() const noexcept { return p_; }

  void set(int option, int value) {
    if (zmq_setsockopt(p_, option, &value, sizeof value) != 0) fail_zmq("zmq_setsockopt");
  }

  // Binds to a free port of 127.0.0.1, or to a new socket file, and returns
  // the endpoint to connect to.
  std::string bind(link over) {
    static std::atomic<int> files{0};
    if (over == link::tls) throw failure("ZeroMQ has no TLS transport");
    const auto where = over == link::tcp
                           ? std::string("tcp://127.0.0.1:*")
                           : "ipc://" + run_path("zmq-" + std::to_string(++files) + ".sock");
    if (zmq_bind(p_, where.c_str()) != 0) fail_zmq("zmq_bind " + where);
    char endpoint[256];
    std::size_t size = sizeof endpoint;
    if (zmq_getsockopt(p_, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0) fail_zmq("ZMQ_LAST_ENDPOINT");
    return endpoint;
  }

  void connect(const std::string& endpoint) {
    if (zmq_connect(p_, endpoint.c_str()) != 0) fail_zmq("zmq_connect");
  }

  void send(const void* data, std::size_t size) {
    if (zmq_send(p_, data, size, 0) < 0) fail_zmq("zmq_send");
  }

  // Sends `data` without copying it: it must stay as it is until the peer
  // has it, which a REQ socket knows once the reply arrives.
  void send_zero_copy(const void* data, std::size_t size) {
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, const_cast<void*>(data), size, nullptr, nullptr) != 0)
      fail_zmq("zmq_msg_init_data");
    if (zmq_msg_send(&msg, p_, 0) < 0) {
      zmq_msg_close(&msg);
      fail_zmq("zmq_msg_send");
    }
  }

  // Receives into `buf` and returns the message's size.
  std::size_t receive(void* buf, std::size_t capacity) {
    const int n = zmq_recv(p_, buf, capacity, 0);
    if (n < 0) fail_zmq("zmq_recv");
    return static_cast<std::size_t>(n);
  }

private:
  void* p_;
};

// A received message, owned, so that an image can wrap its bytes.
struct message {
  message() { zmq_msg_init(&msg); }
  ~message() { zmq_msg_close(&msg); }
  message(const message&) = delete;
  message& operator=(const message&) = delete;
  zmq_msg_t msg;
};

} // namespace

double zmq_stream(std::size_t payload, std::uint64_t count, link over) {
  context pub_ctx, sub_ctx;
  socket pub(pub_ctx, ZMQ_PUB);
  // High-water mark 0 means no limit: PUB drops messages at the mark, and a
  // benchmark that loses messages measures nothing.
  pub.set(ZMQ_SNDHWM, 0);
  const auto endpoint = pub.bind(over);

  // A subscriber's subscription reaches the publisher some time after it
  // connects, and PUB drops what it sends before then (the slow joiner). So
  // the publisher sends one-byte greetings until the subscriber has seen
  // one; greetings still on the way are told from the measured messages by
  // their size.
  std::atomic<bool> joined{false};
  clock_type::time_point end;
  auto sub = std::make_unique<socket>(sub_ctx, ZMQ_SUB);
  sub->set(ZMQ_RCVHWM, 0);
  if (zmq_setsockopt(sub->get(), ZMQ_SUBSCRIBE, "", 0) != 0) fail_zmq("ZMQ_SUBSCRIBE");
  sub->connect(endpoint);
  worker receiver([&, sub = std::move(sub)] {
    message m; // one message object reused, as local_thr does
    for (std::uint64_t got = 0; got < count;) {
      if (zmq_msg_recv(&m.msg, sub->get(), 0) < 0) fail_zmq("zmq_msg_recv");
      const auto size = zmq_msg_size(&m.msg);
      if (size == 1) {
        joined.store(true);
        continue;
      }
      if (size != payload) throw failure("ZeroMQ: a message of the wrong size");
      ++got;
    }
    end = clock_type::now();
  });

  std::optional<clock_type::time_point> start;
  try {
    const auto deadline = clock_type::now() + patience;
    const char greeting = 'g';
    while (!joined.load()) {
      if (clock_type::now() > deadline) throw failure("ZeroMQ: the subscriber never joined");
      pub.send(&greeting, 1);
      std::this_thread::sleep_for(1ms);
    }
    const std::vector<char> data(payload, 'x');
    start = clock_type::now();
    for (std::uint64_t i = 0; i < count; ++i) pub.send(data.data(), payload);
    receiver.join();
  } catch (...) {
    receiver.join_quietly(); // it times out: nothing more arrives
    throw;
  }
  return seconds_between(*start, end);
}

std::vector<double> zmq_round_trips(const settings& s, link over) {
  constexpr std::size_t size = 16;
  const std::uint64_t total = s.rtt_warmup + s.rtt_samples;
  context rep_ctx, req_ctx;
  auto rep = std::make_unique<socket>(rep_ctx, ZMQ_REP);
  const auto endpoint = rep->bind(over);
  // A socket may move to another thread across a full memory barrier, which
  // starting the thread is.
  worker echo([&, rep = std::move(rep)] {
    char buf[size];
    for (std::uint64_t i = 0; i < total; ++i) {
      if (rep->receive(buf, sizeof buf) != size)
        throw failure("ZeroMQ: a request of the wrong size");
      rep->send(buf, size);
    }
  });

  std::vector<double> samples;
  samples.reserve(s.rtt_samples);
  try {
    socket req(req_ctx, ZMQ_REQ);
    req.connect(endpoint);
    char out[size] = {}, in[size] = {};
    for (std::uint64_t i = 0; i < total; ++i) {
      std::memcpy(out, &i, sizeof i);
      const auto t0 = clock_type::now();
      req.send(out, size);
      const auto n = req.receive(in, sizeof in);
      const auto t1 = clock_type::now();
      if (n != size || std::memcmp(in, out, size) != 0)
        throw failure("ZeroMQ: the reply is not the request");
      if (i >= s.rtt_warmup) samples.push_back(seconds_between(t0, t1) * 1e6);
    }
    echo.join();
  } catch (...) {
    echo.join_quietly();
    throw;
  }
  return samples;
}

frame_rate zmq_frames(const settings& s, const std::vector<image>& frames, bool jpeg, int quality,
                      link over) {
  const image& first = frames.front();
  const auto max_pixels = socketengine::image_options{}.max_pixels;
  context rep_ctx, req_ctx;
  auto rep = std::make_unique<socket>(rep_ctx, ZMQ_REP);
  const auto endpoint = rep->bind(over);

  std::atomic<std::uint64_t> decoded{0}, bytes{0};
  std::atomic<bool> stop{false};
  worker receiver([&, rep = std::move(rep)] {
    for (;;) {
      auto m = std::make_shared<message>();
      if (zmq_msg_recv(&m->msg, rep->get(), 0) < 0) fail_zmq("zmq_msg_recv");
      const auto size = zmq_msg_size(&m->msg);
      if (size == 0) { // the sender's end
        rep->send("OK", 2);
        return;
      }
      auto* data = static_cast<std::uint8_t*>(zmq_msg_data(&m->msg));
      std::optional<image> img;
      if (jpeg) {
        std::error_code ec;
        std::string detail;
        img = socketengine::detail::jpeg::decode({data, size}, max_pixels, ec, detail);
        if (!img) throw failure("ZeroMQ: a JPEG that does not decode: " + detail);
      } else {
        // The pixels as they came, kept alive by the message they are in.
        if (size != first.size_bytes()) throw failure("ZeroMQ: a raw frame of the wrong size");
        img = image::wrap(first.width(), first.height(), first.order(), data, m);
      }
      if (img->width() != first.width() || img->height() != first.height())
        throw failure("ZeroMQ: a frame of the wrong size");
      bytes += size;
      ++decoded;
      rep->send("OK", 2);
    }
  });

  worker sender([&] {
    socket req(req_ctx, ZMQ_REQ);
    req.connect(endpoint);
    std::string encoded;
    char reply[8];
    for (std::uint64_t n = 0; !stop.load(); ++n) {
      const image& frame = frames[n % frames.size()];
      if (jpeg) {
        encoded.clear();
        socketengine::detail::jpeg::encode(frame, quality, encoded);
        req.send_zero_copy(encoded.data(), encoded.size());
      } else {
        req.send_zero_copy(frame.data(), frame.size_bytes());
      }
      if (req.receive(reply, sizeof reply) != 2) throw failure("ZeroMQ: a wrong reply");
    }
    req.send(nullptr, 0);
    req.receive(reply, sizeof reply);
  });

  frame_rate r;
  try {
    r = time_frames(s, [&] { return frame_tally{decoded.load(), bytes.load()}; });
  } catch (...) {
    stop = true;
    sender.join_quietly();
    receiver.join_quietly();
    throw;
  }
  stop = true;
  sender.join();
  receiver.join();
  return r;
}

} // namespace compare
