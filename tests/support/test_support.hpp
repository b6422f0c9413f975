#pragma once
// Helpers shared by the tests: waiting for a condition with a deadline, a
// round trip over a link, and a raw TCP peer for feeding an engine bytes no
// well-behaved peer would send.

#include <asio.hpp>
#include <gtest/gtest.h>

#include <socketengine/connection.hpp>
#include <socketengine/handlers.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace socketengine::test {

using namespace std::chrono_literals;

/// Default deadline for anything that should happen "soon" over loopback.
inline constexpr std::chrono::milliseconds patience = 10s;

/// True when SOCKETENGINE_LONG_TESTS is set (scripts/long-tests.sh): the
/// attack tests then run at the issue's full sizes, too long for CI.
inline bool long_run() {
  const char* v = std::getenv("SOCKETENGINE_LONG_TESTS");
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

/// `prefix` followed by `i` ("p3"). Written out because `"p" +
/// std::to_string(i)` trips GCC 12's -Wrestrict false positive at -O2 and
/// above (GCC bug 105329), which -Werror turns into a failed release build.
inline std::string numbered(std::string_view prefix, long long i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

/// Polls `pred` until it holds or `timeout` passes; returns its last value.
/// For conditions the engine offers no wait for (counters, flags).
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = patience) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// What an engine's error handler heard. The record outlives this object
/// (the handler shares it), so it may be declared after the engine, whose
/// close may still report.
class error_reports {
public:
  template <class Engine>
  explicit error_reports(Engine& e) {
    e.on_error([log = log_](const std::shared_ptr<connection>&, std::error_code ec,
                            const std::string& what) {
      std::lock_guard lk(log->mu);
      log->seen.emplace_back(ec, what);
    });
  }
  /// Whether `ec` has been reported, waiting up to `timeout` for it.
  [[nodiscard]] bool heard(std::error_code ec, std::chrono::milliseconds timeout = patience) const {
    return eventually([&] { return count(ec) > 0; }, timeout);
  }
  /// How many times `ec` has been reported so far.
  [[nodiscard]] std::size_t count(std::error_code ec) const {
    std::lock_guard lk(log_->mu);
    std::size_t n = 0;
    for (auto& r : log_->seen) n += r.first == ec ? 1 : 0;
    return n;
  }
  /// The details reported with `ec` so far.
  [[nodiscard]] std::vector<std::string> details(std::error_code ec) const {
    std::lock_guard lk(log_->mu);
    std::vector<std::string> out;
    for (auto& r : log_->seen)
      if (r.first == ec) out.push_back(r.second);
    return out;
  }
  /// Whether a report with a code in `category` whose detail or message
  /// holds `text` has come, waiting up to `timeout` for it: for codes whose
  /// value is not known in advance (OpenSSL's, in tls_category()).
  [[nodiscard]] bool heard_saying(const std::error_category& category, std::string_view text,
                                  std::chrono::milliseconds timeout = patience) const {
    return eventually(
        [&] {
          std::lock_guard lk(log_->mu);
          for (auto& [ec, what] : log_->seen)
            if (ec.category() == category && (what + ": " + ec.message()).find(text) !=
                                                 std::string::npos)
              return true;
          return false;
        },
        timeout);
  }
  /// Every report so far, one a line: for a failing test's message.
  [[nodiscard]] std::string all() const {
    std::lock_guard lk(log_->mu);
    std::string out;
    for (auto& [ec, what] : log_->seen) out += what + ": " + ec.message() + "\n";
    return out;
  }

private:
  struct record {
    std::mutex mu;
    std::vector<std::pair<std::error_code, std::string>> seen;
  };
  std::shared_ptr<record> log_ = std::make_shared<record>();
};

/// A round trip of values between the two ends of one link (`a` writes
/// "ping", `b` answers "pong"): once it is done, each side has read the
/// other's greeting, so whether the connection switched is settled.
inline void round_trip(connection& a, connection& b) {
  auto since = a.version("pong");
  a.write("ping", 1);
  ASSERT_TRUE(b.wait_for("ping", patience));
  b.write("pong", 1);
  ASSERT_TRUE(a.wait_for_next("pong", patience, since));
}

/// A blocking TCP peer speaking raw bytes, for tests that need exact control
/// of what goes on the wire.
class raw_peer {
public:
  raw_peer() : socket_(io_) {}

  /// Connects to 127.0.0.1:port (or `address`), with TCP_NODELAY.
  void connect(std::uint16_t port, std::string_view address = "127.0.0.1") {
    socket_.connect({asio::ip::make_address(address), port});
    socket_.set_option(asio::ip::tcp::no_delay(true));
  }

  /// Accepts one connection on `acceptor`.
  void accept(asio::ip::tcp::acceptor& acceptor) { acceptor.accept(socket_); }

  /// Writes all of `bytes`, waiting for room as long as it takes.
  void send(std::string_view bytes) {
    socket_.non_blocking(false); // reads leave it non-blocking (see fill)
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
  }

  /// Reads one `\n`-terminated line (without the `\n`), failing after
  /// `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = patience) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // The search resumes where it stopped: a line of megabytes (an image)
    // arrives in thousands of reads.
    std::size_t scanned = 0;
    for (;;) {
      auto nl = buffer_.find('\n', scanned);
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      scanned = buffer_.size();
      switch (fill(deadline)) {
      case fill_result::data: break;
      case fill_result::closed: throw std::runtime_error("read_line: connection closed");
      case fill_result::timeout: throw std::runtime_error("read_line timed out");
      }
    }
  }

  /// Reads exactly `n` bytes (a native frame), failing after `timeout`.
  std::string read_exactly(std::size_t n, std::chrono::milliseconds timeout = patience) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < n) {
      switch (fill(deadline)) {
      case fill_result::data: break;
      case fill_result::closed: throw std::runtime_error("read_exactly: connection closed");
      case fill_result::timeout: throw std::runtime_error("read_exactly timed out");
      }
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  /// Reads the native protocol's offer, which the engine sends every peer
  /// (after `__name_conn` when it dials as a hub); a legacy peer, as this
  /// one plays, stores it and never answers. Throws if the next line is not
  /// the offer.
  void expect_native_offer() {
    auto line = read_line();
    if (line != native_offer) throw std::runtime_error("expected the native offer, got: " + line);
  }

  /// The offer line, without its `\n`.
  static constexpr std::string_view native_offer = R"({"type":"__native","data":{"offer":1}})";

  /// True once the engine has closed its side (EOF or reset), waiting up to
  /// `timeout`. Lines still unread are kept. Closes this side in turn, as a
  /// real peer would.
  bool wait_closed(std::chrono::milliseconds timeout = patience) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      switch (fill(deadline)) {
      case fill_result::data: break;
      case fill_result::closed: socket_.close(); return true;
      case fill_result::timeout: return false;
      }
    }
  }

  /// Closes abruptly: an RST rather than a FIN (SO_LINGER 0).
  void reset() {
    socket_.set_option(asio::socket_base::linger(true, 0));
    socket_.close();
  }

  void close() { socket_.close(); }

  asio::ip::tcp::socket& socket() { return socket_; }

private:
  enum class fill_result { data, closed, timeout };

  // Appends what arrives to buffer_, polling until `deadline`.
  fill_result fill(std::chrono::steady_clock::time_point deadline) {
    socket_.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
      char chunk[65536];
      std::error_code ec;
      std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      if (ec) return fill_result::closed;
      buffer_.append(chunk, n);
      return fill_result::data;
    }
    return fill_result::timeout;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  std::string buffer_;
};

} // namespace socketengine::test
