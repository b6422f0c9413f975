#pragma once
// One line per message that arrives, for `socketengine listen`: the default
// form, a --format of the user's, or JSON.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <socketengine/connection.hpp>
#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

namespace socketengine::cli {

/// A message as printed: who sent it, on which channel, what.
struct message_record {
  std::string peer;
  std::string channel;
  value data;             // a value, or for an image its size and pixel order
  std::string text;       // it as one line: compact JSON; a bytes value as
                          // `<N bytes>`, an image as `<WxH order image>`
  std::size_t size = 0;   // bytes of the value as JSON (bytes values: their length;
                          // images: their pixels)
  std::chrono::system_clock::time_point time;
  bool is_image = false;
};

/// What a peer is called in the output: a peer that dialled in by the name
/// it announced; one this side dialled by its address (its name here is the
/// one this side gave it).
std::string peer_of(const connection& c);

/// Whether `channel` is one the protocol itself uses (the peer's name, its
/// closing, image acknowledgements, the native protocol's offer): not
/// shown unless asked for.
bool is_protocol_channel(std::string_view channel);

/// The record of a value received on `channel`; the value is written out
/// once, for its text and its size alike.
message_record value_record(std::string peer, std::string channel, const value& v);
/// The record of an image received (channel "image").
message_record image_record(std::string peer, const image& img);

/// Formats records as lines (without the newline).
class message_printer {
public:
  /// `format` uses fmt's syntax with the names {peer}, {channel},
  /// {value}, {size} and {time} (ISO 8601, UTC, milliseconds); empty: the
  /// default "{peer} {channel} {value}". `json`: one JSON object per line.
  /// \throws error(exit_usage) if `format` is not a valid format.
  message_printer(std::string format, bool json);
  [[nodiscard]] std::string line(const message_record& r) const;

private:
  std::string format_;
  bool json_;
};

} // namespace socketengine::cli
