#pragma once
// The protocols an engine's connections speak, and where one is chosen:
// every connection starts with the legacy protocol, offers the native one
// (unless disabled), and switches each direction to it on the peer's word.
// Made once per engine and shared by its connections.
//
// Threading: immutable once made; any thread.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/legacy/writer.hpp"
#include "protocol/native/writer.hpp"
#include "protocol/reader.hpp"
#include "protocol/settings.hpp"
#include "protocol/writer.hpp"

namespace socketengine::detail::protocol {

class suite {
public:
  explicit suite(const settings& s);
  suite(const suite&) = delete;
  suite& operator=(const suite&) = delete;

  [[nodiscard]] const protocol::settings& settings() const noexcept { return settings_; }

  /// What every connection writes first.
  [[nodiscard]] const writer& first_writer() const noexcept { return legacy_out_; }

  /// What every connection reads first.
  [[nodiscard]] std::unique_ptr<reader> first_reader() const;

  /// The reader that takes over at the peer's switch; `rest` is what the
  /// previous one read past the switch.
  [[nodiscard]] std::unique_ptr<reader> reader_after_switch(std::string_view rest) const;

  /// The greeting a connection queues before anything else: `name` for a
  /// hub's dial, then the offer (see legacy::writer::append_greeting).
  void append_greeting(std::string& out, std::optional<std::string_view> name) const {
    legacy_out_.append_greeting(out, name);
  }

  /// Whether connections authenticate before anything else (a token:
  /// auth_options, protocol/auth/reader.hpp).
  [[nodiscard]] bool authenticates() const noexcept { return settings_.token != nullptr; }

  /// A link's start: appends to `greeting` what it queues first, and
  /// returns the reader it reads with first. Without a token, the greeting
  /// above and first_reader(); with one, the hello (this side's nonce and
  /// offer) and the handshake's reader; the name then goes only once the
  /// peer has authenticated (append_name). `dialled`: this side dialled.
  /// \throws std::runtime_error if there is no randomness for a nonce.
  [[nodiscard]] std::unique_ptr<reader> start_link(bool dialled,
                                                   std::optional<std::string_view> name,
                                                   std::string& greeting) const;

  /// The `__name_conn` line a hub's dial sends once authenticated.
  void append_name(std::string& out, std::string_view name) const {
    legacy_out_.append_greeting_name(out, name);
  }

  /// The reader after the handshake, starting with `rest`, what the
  /// handshake's reader read past it. \throws over_budget; std::bad_alloc.
  [[nodiscard]] std::unique_ptr<reader> reader_after_auth(std::string_view rest) const;

  /// Channels a peer may store on past limits::max_channels (the reserved
  /// ones: a peer at the limit can still name itself and say it is closing).
  [[nodiscard]] static bool exempt_from_limit(std::string_view channel) noexcept;

  /// The peer offered the native protocol: the writer to switch to, with the
  /// line that announces the switch appended to `out`; null if this side
  /// does not offer it.
  const writer* upgrade(std::string& out) const;

private:
  protocol::settings settings_;
  int offered_; // the native protocol version offered, 0 if none
  legacy::writer legacy_out_;
  native::writer native_out_;
};

} // namespace socketengine::detail::protocol
