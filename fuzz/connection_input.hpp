#pragma once
// What the whole-connection fuzz targets share: a stand-in for the
// connection that takes everything and decodes images at once, so that the
// decoders behind the readers are fuzzed too, and the loop that feeds a
// connection's input through its readers as the connection does.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/auth/handshake.hpp"
#include "protocol/reader.hpp"
#include "protocol/receiver.hpp"
#include "protocol/suite.hpp"
#include "reads.hpp"

namespace socketengine::detail::protocol {

/// Settings for a fuzzed connection: small bounds, so that the fuzzer
/// reaches them.
inline settings fuzz_settings() {
  settings s;
  s.hub = true;
  s.offer_native = true;
  s.limits.max_line_bytes = 1 << 16;
  s.limits.max_depth = 16;
  s.limits.max_channels = 64;
  s.images.max_pixels = 1 << 16;
  return s;
}

/// The token of the auth target and its seeds.
inline constexpr std::string_view fuzz_token = "fuzz-token";

/// The nonce the auth target's side (a listener) greets with, fixed so
/// that a seed can carry the proof that answers it.
inline auth::nonce fuzz_listener_nonce() {
  auth::nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(i);
  return n;
}

// Stands in for the connection: takes everything, decodes images at once.
class sink final : public receiver {
public:
  void value_received(std::string_view, value&&, std::size_t) override {}
  void bytes_received(std::string_view, std::span<const std::uint8_t>, std::size_t) override {}
  void image_received(image&&, bool) override {}
  void image_to_decode(image_decoder decode, std::size_t, bool, bool) override {
    std::error_code ec;
    std::string detail;
    (void)decode(ec, detail);
  }
  void peer_named(const std::string&) override {}
  void image_needs_ack(bool) override {}
  void images_acknowledged(std::uint32_t) override {}
  void peer_offered() override {}
  void ping_received() override {}
  void peer_closing() override { open_ = false; }
  void reject(std::error_code, std::string) override {}
  void fail(std::error_code, std::string) override { open_ = false; }
  [[nodiscard]] bool make_room(std::size_t) override { return false; }
  [[nodiscard]] bool open() const noexcept override { return open_; }
  void handshake_reply(std::string_view) override {}
  void peer_authenticated(bool, bool) override {}
  void refuse(std::string_view, std::string) override { open_ = false; }

private:
  bool open_ = true;
};

/// Feeds a fuzz input (reads.hpp) to a connection's input side, starting
/// with `first`: the handshake's reader if `handshaking` (it hands on to
/// the legacy reader), else the legacy reader, which hands on to the native
/// one at the switch. Large messages' work runs at once.
inline void feed_connection(const suite& protocols, std::unique_ptr<reader> first,
                            bool handshaking, const std::uint8_t* data, std::size_t size) {
  sink to;
  // The reader of the moment.
  struct current_reader {
    std::unique_ptr<reader> r;
    std::span<char> prepare() { return r->prepare(); }
    void commit(std::size_t n) { r->commit(n); }
  } in{std::move(first)};
  auto consume = [&] {
    while (to.open()) {
      switch (in.r->consume(to)) {
      case reader::outcome::more: return true;
      case reader::outcome::stopped: return false;
      case reader::outcome::switched: // what came with the switch is the next reader's
        in.r = handshaking ? protocols.reader_after_auth(in.r->rest())
                           : protocols.reader_after_switch(in.r->rest());
        handshaking = false;
        break;
      case reader::outcome::paused:
        if (auto work = in.r->take_work()) work();
        break;
      }
    }
    return false;
  };
  try {
    socketengine::fuzz::feed(in, socketengine::fuzz::split_input(data, size), consume);
  } catch (const std::bad_alloc&) {
    // Refused to allocate past a bound: the connection would close.
  }
}

} // namespace socketengine::detail::protocol
