#pragma once
// MQTT topic names for the bridge: PREFIX/HUB/PEER/CHANNEL. Hand-written:
// libmosquitto checks topics but has no escaping, and the rule is ours.

#include <string>
#include <string_view>

namespace socketengine::mqtt {

/// `text` with the characters a topic name cannot hold as they are
/// (`+`, `#`, NUL) and the escape character itself (`%`) written as %XX;
/// `/` too when `text` is to be one level (a hub's or peer's name), and
/// kept when it may be several (a channel's).
inline std::string escaped(std::string_view text, bool one_level) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '+': out += "%2B"; break;
    case '#': out += "%23"; break;
    case '%': out += "%25"; break;
    case '\0': out += "%00"; break;
    case '/': out += one_level ? "%2F" : "/"; break;
    default: out += c;
    }
  }
  return out;
}

/// True if `text` can be used as levels of a topic name as it is.
inline bool is_plain_level_path(std::string_view text) {
  return text.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos;
}

/// The topic a value from `peer` on `channel` goes to.
inline std::string topic(std::string_view prefix, std::string_view hub, std::string_view peer,
                         std::string_view channel) {
  std::string t(prefix);
  t += '/';
  t += escaped(hub, true);
  t += '/';
  t += escaped(peer, true);
  t += '/';
  t += escaped(channel, false);
  return t;
}

} // namespace socketengine::mqtt
