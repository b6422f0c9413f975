// A live hub against hostile peers over TCP, as the fuzzers test its
// decoders one at a time: many connections stream mutated and random bytes
// (the fuzz corpus's valid sessions, lines and frames, cut, spliced and
// mixed with garbage), and a thousand peers reset their connection in the
// middle of a message. After every batch a well-behaved peer still
// round-trips, and the heap and the descriptors are back to where they
// were. Under ASan, LeakSanitizer checks at exit that nothing leaked.
//
// The random streams come from a seed printed at the start;
// SOCKETENGINE_TEST_SEED replays one.

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <socketengine/socketengine.hpp>

#include "protocol/legacy/line_codec.hpp"
#include "protocol/native/frame_codec.hpp"
#include "support/process_usage.hpp"
#include "support/round_trips.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::find_named;
using test::name_line;
using test::patience;

// What the heap may hold after a batch beyond what it held after the
// first ones: the allocator's and Asio's caches settle within a few KiB
// (seen: -280 to +10 KiB), while a closed connection left behind (about
// 1.7 KiB once its buffers are gone) in every batch passes it.
constexpr std::size_t heap_slack = 256u << 10;

// Randomness from a seed printed at the start, so that a failing run can
// be replayed: SOCKETENGINE_TEST_SEED sets it.
class random_source {
public:
  random_source() {
    if (const char* s = std::getenv("SOCKETENGINE_TEST_SEED"); s != nullptr && *s != '\0')
      seed_ = std::strtoull(s, nullptr, 10);
    else
      seed_ = std::random_device{}();
    rng_.seed(seed_);
    std::printf("seed %llu (SOCKETENGINE_TEST_SEED replays it)\n",
                static_cast<unsigned long long>(seed_));
  }
  /// A number in [0, n), or 0 when n is 0.
  std::size_t below(std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  char byte() { return static_cast<char>(below(256)); }

private:
  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

// The fuzz corpus's whole-connection inputs, without their first byte (the
// size of each read, for the fuzzer).
std::vector<std::string> corpus_sessions() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(SOCKETENGINE_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() > 1) out.push_back(bytes.substr(1));
  }
  return out;
}

// A peer that writes and never reads, over a plain socket: it must be able
// to end with a reset, and to keep going when the hub has cut it off.
class hostile_socket {
public:
  explicit hostile_socket(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
      throw std::system_error(errno, std::generic_category(), "connect");
    // A hub busy decoding reads nothing for a while: a send waits that
    // long at most, then the peer gives up as if cut off.
    timeval wait{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  hostile_socket(const hostile_socket&) = delete;
  hostile_socket& operator=(const hostile_socket&) = delete;
  ~hostile_socket() { end(false); }

  /// Writes all of `bytes`; false once the hub has closed the connection
  /// (or stopped reading for the send timeout).
  bool send(std::string_view bytes) {
    while (!bytes.empty() && fd_ >= 0) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return fd_ >= 0;
  }

  /// Closes with a FIN, or with a reset (SO_LINGER of 0).
  void end(bool reset) {
    if (fd_ < 0) return;
    if (reset) {
      linger now{.l_onoff = 1, .l_linger = 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    }
    ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

// The error handler's reports, by code, without allocating (the test
// measures the heap).
class report_counts {
public:
  explicit report_counts(hub& h) {
    h.on_error([counts = counts_](const std::shared_ptr<connection>&, std::error_code ec,
                                  const std::string&) {
      auto i = static_cast<std::size_t>(ec.value());
      (*counts)[ec.category() == error_category() && i < size ? i : 0].fetch_add(1);
    });
  }
  [[nodiscard]] std::size_t of(errc e) const { return (*counts_)[static_cast<std::size_t>(e)]; }
  [[nodiscard]] std::size_t total() const {
    std::size_t n = 0;
    for (auto& c : *counts_) n += c;
    return n;
  }
  /// "code: count" for each code reported.
  [[nodiscard]] std::string describe() const {
    std::string out;
    for (std::size_t i = 0; i < size; ++i)
      if (auto n = (*counts_)[i].load(); n > 0)
        out += (i == 0 ? std::string("other") : make_error_code(static_cast<errc>(i)).message()) +
               ": " + std::to_string(n) + "; ";
    return out.empty() ? "none" : out;
  }

private:
  static constexpr std::size_t size = 64;
  std::shared_ptr<std::array<std::atomic<std::size_t>, size>> counts_ =
      std::make_shared<std::array<std::atomic<std::size_t>, size>>();
};

// A hub that forgets closed connections at once, so that what they held is
// given back, with a well-behaved peer dialled in.
struct hub_under_attack {
  hub centre{{.port = 0, .limits = {.max_closed_connections = 0}}};
  report_counts reports{centre};
  hub good_side{{.listen = false}};
  std::shared_ptr<connection> mine, theirs;

  hub_under_attack() {
    mine = good_side.connect("well-behaved", "127.0.0.1", centre.port());
    EXPECT_TRUE(eventually([&] {
      theirs = find_named(centre, "well-behaved");
      return theirs != nullptr;
    }));
  }

  /// After a batch: every hostile connection gone, and the well-behaved
  /// peer still served.
  void expect_only_the_good_peer_left(int batch) {
    EXPECT_TRUE(eventually([&] { return centre.connections().size() == 1; }))
        << "batch " << batch << ": " << centre.connections().size() - 1
        << " hostile connections still listed";
    auto rtt = test::round_trip_us(*mine, *theirs, batch);
    EXPECT_LT(rtt, 1e12) << "batch " << batch << ": the well-behaved peer got no answer";
    EXPECT_TRUE(theirs->is_open()) << theirs->close_reason().message();
  }
};

// What the process held before the attack (descriptors) and after its
// first batches (the heap, once caches have warmed); every later batch must
// come back to it.
class baseline {
public:
  baseline() : fds_(test::open_descriptors()) {}
  void take_heap() { heap_ = test::heap_in_use(); }

  void expect_back(int batch) {
    EXPECT_TRUE(eventually([&] { return test::open_descriptors() == fds_; }))
        << "batch " << batch << ": " << test::open_descriptors() << " descriptors, " << fds_
        << " before";
    if (!heap_) return;
    // Freeing follows the close on the I/O and work threads.
    bool back = eventually([&] { return test::heap_in_use() <= *heap_ + heap_slack; }, 2s);
    EXPECT_TRUE(back) << "batch " << batch << ": heap " << growth() << " bytes over its baseline";
  }
  [[nodiscard]] long long growth() const {
    return static_cast<long long>(test::heap_in_use()) - static_cast<long long>(heap_.value_or(0));
  }

private:
  std::size_t fds_;
  std::optional<std::size_t> heap_;
};

// --- a live hub under fuzzing ---------------------------------------------

// `session` changed by one to six mutations, as a fuzzer would: bytes
// flipped, garbage put in, spans cut or repeated, the tail of another
// session spliced on.
std::string mutated(std::string s, const std::vector<std::string>& others, random_source& random) {
  auto pick = [&](std::size_t n) { return random.below(n); };
  for (auto n = 1 + pick(6); n > 0; --n) {
    switch (pick(6)) {
    case 0: // flip bytes
      for (auto k = 1 + pick(8); k > 0 && !s.empty(); --k) s[pick(s.size())] = random.byte();
      break;
    case 1: { // insert garbage
      std::string junk(1 + pick(64), '\0');
      for (auto& c : junk) c = random.byte();
      s.insert(pick(s.size() + 1), junk);
      break;
    }
    case 2: // cut a span
      if (!s.empty()) {
        auto at = pick(s.size());
        s.erase(at, 1 + pick(s.size() - at));
      }
      break;
    case 3: // repeat a span (long lines, many frames)
      if (!s.empty()) {
        auto at = pick(s.size());
        auto span = s.substr(at, 1 + pick(std::min<std::size_t>(s.size() - at, 512)));
        std::string copies;
        for (auto k = 1 + pick(64); k > 0; --k) copies += span;
        s.insert(at, copies);
      }
      break;
    case 4: { // splice another session's tail
      const auto& other = others[pick(others.size())];
      s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size() + 1));
      break;
    }
    default: // a control byte where a newline or a size might be
      if (!s.empty()) s[pick(s.size())] = "\n\r\0\xff"[pick(4)];
      break;
    }
  }
  return s;
}

TEST(hostile_peers, a_live_hub_fed_mutated_and_random_bytes_keeps_serving_and_gives_all_back) {
  const auto sessions = corpus_sessions();
  ASSERT_GE(sessions.size(), 3u) << "fuzz corpus not found at " SOCKETENGINE_FUZZ_CORPUS;
  random_source random;
  auto pick = [&](std::size_t n) { return random.below(n); };

  hub_under_attack setup;
  ASSERT_TRUE(setup.theirs);
  baseline before;
  const int batches = test::long_run() ? 500 : 20;
  const int connections = test::long_run() ? 64 : 32;
  std::size_t sent = 0, cut_off = 0;
  for (int batch = 0; batch < batches; ++batch) {
    std::vector<std::unique_ptr<hostile_socket>> peers;
    std::vector<std::string> streams;
    for (int i = 0; i < connections; ++i) {
      peers.push_back(std::make_unique<hostile_socket>(setup.centre.port()));
      if (pick(10) == 0) { // nothing but noise
        std::string noise(1 + pick(8192), '\0');
        for (auto& c : noise) c = random.byte();
        streams.push_back(std::move(noise));
      } else {
        streams.push_back(mutated(sessions[pick(sessions.size())], sessions, random));
      }
    }
    // All at once, in pieces of random size, as many peers would.
    std::vector<std::size_t> at(peers.size(), 0);
    for (bool more = true; more;) {
      more = false;
      for (std::size_t i = 0; i < peers.size(); ++i) {
        if (at[i] >= streams[i].size()) continue;
        auto n = std::min(streams[i].size() - at[i], 1 + pick(4096));
        if (peers[i]->send(std::string_view(streams[i]).substr(at[i], n))) {
          at[i] += n;
          sent += n;
          more = true;
        } else {
          at[i] = streams[i].size();
          ++cut_off;
        }
      }
    }
    for (auto& p : peers) p->end(pick(2) == 0);
    peers.clear();
    setup.expect_only_the_good_peer_left(batch);
    before.expect_back(batch);
    if (batch == 1) before.take_heap(); // the first batches warm the caches
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("%d batches of %d connections, %zu bytes sent, %zu cut off by the hub; "
              "reports: %s\nheap %+lld bytes from its baseline, %zu descriptors\n",
              batches, connections, sent, cut_off, setup.reports.describe().c_str(),
              before.growth(), test::open_descriptors());
}

// --- peers killed mid-message -----------------------------------------------

// A session a peer might be cut off in the middle of: a name, a few values,
// a message of 256 KiB (held in pages of its own while it arrives), an
// image; as lines, or as frames after the switch.
std::string whole_session(int peer, bool native) {
  const value big(std::string(std::size_t{256} << 10, 'b'));
  const value pose = {{"x", 1.5}, {"list", {1, -2, "caf\u00e9", nullptr, true}}};
  std::string out = name_line(test::numbered("p", peer));
  if (native) {
    out += std::string(test::raw_peer::native_offer) + "\n";
    out += R"({"type":"__native","data":{"switch":1}})" "\n";
    detail::native::append_json(out, "pose", pose);
    detail::native::append_json(out, "big", big);
    out += *detail::native::encode_image(image(64, 48, pixel_order::bgr), image_encoding::png, 1, 90);
    detail::native::append_json(out, "after", peer);
  } else {
    detail::legacy::append_line(out, "pose", pose);
    detail::legacy::append_line(out, "big", big);
    detail::legacy::append_image_line(out, "__image", image(64, 48, pixel_order::bgr), 1);
    detail::legacy::append_line(out, "after", peer);
  }
  return out;
}

// Bytes read by the hub from every peer but the well-behaved one.
std::uint64_t hostile_bytes_in(const hub_under_attack& setup) {
  std::uint64_t n = 0;
  for (auto& c : setup.centre.connections())
    if (c != setup.theirs) n += c->stats().bytes_in;
  return n;
}

TEST(hostile_peers, peers_reset_in_the_middle_of_a_message_leave_nothing_behind) {
  random_source random;
  auto pick = [&](std::size_t n) { return random.below(n); };

  hub_under_attack setup;
  ASSERT_TRUE(setup.theirs);
  const std::array<std::string, 2> sessions{whole_session(0, false), whole_session(0, true)};
  baseline before;
  const int waves = test::long_run() ? 100 : 10;
  const int peers_per_wave = 100; // 1,000 in all; 10,000 in the long run
  std::uint64_t sent_in_all = 0;
  for (int wave = 0; wave < waves; ++wave) {
    std::vector<std::unique_ptr<hostile_socket>> peers;
    std::uint64_t sent = 0;
    for (int i = 0; i < peers_per_wave; ++i) {
      const auto& session = sessions[pick(2)];
      // Half the cuts anywhere (mostly in the large message), half in the
      // small messages before it.
      auto cut = 1 + (pick(2) == 0 ? pick(session.size() - 1) : pick(400));
      peers.push_back(std::make_unique<hostile_socket>(setup.centre.port()));
      ASSERT_TRUE(peers.back()->send(std::string_view(session).substr(0, cut)));
      sent += cut;
    }
    // Reset only once the hub has read every byte, so that each holds part
    // of a message when its peer goes.
    ASSERT_TRUE(eventually([&] { return hostile_bytes_in(setup) == sent; }))
        << "wave " << wave << ": the hub read " << hostile_bytes_in(setup) << " of " << sent;
    sent_in_all += sent;
    for (auto& p : peers) p->end(true);
    peers.clear();
    setup.expect_only_the_good_peer_left(wave);
    before.expect_back(wave);
    if (wave == 1) before.take_heap();
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("%d peers reset mid-message, %llu bytes read from them; reports: %s\n"
              "heap %+lld bytes from its baseline, %zu descriptors\n",
              waves * peers_per_wave, static_cast<unsigned long long>(sent_in_all),
              setup.reports.describe().c_str(), before.growth(), test::open_descriptors());
  // A peer going away in the middle of a message is no error of anyone's:
  // nothing is reported but the resets themselves, if anything.
  EXPECT_EQ(setup.reports.total(), 0u) << setup.reports.describe();
}

} // namespace
} // namespace socketengine
