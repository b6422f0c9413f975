#include "messages.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "cli.hpp"
#include "protocol/legacy/base64.hpp"
#include "protocol/legacy/channels.hpp"

namespace socketengine::cli {

namespace channels = detail::legacy::channels;

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto whole = std::chrono::floor<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - whole).count();
  // fmt formats a system_clock time in UTC.
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", whole, ms);
}

// A bytes value in JSON output: its base64, so that a script can have it.
value bytes_json(const value& v) {
  const auto& bytes = v.get_binary();
  std::string text(detail::legacy::base64::encoded_size(bytes.size()), '\0');
  detail::legacy::base64::encode(bytes, text.data());
  return value{{"base64", std::move(text)}};
}

} // namespace

std::string peer_of(const connection& c) {
  if (c.kind() == connection_kind::remote && !c.name().empty()) return c.name();
  if (c.address().starts_with("unix:")) return c.address();
  return fmt::format("{}:{}", c.address(), c.port());
}

bool is_protocol_channel(std::string_view channel) {
  for (auto c : {channels::name_conn, channels::image, channels::ack, channels::status,
                 channels::closing, channels::native})
    if (channel == c) return true;
  return false;
}

message_record value_record(std::string peer, std::string channel, const value& v) {
  message_record r{std::move(peer), std::move(channel), v, {}, 0,
                   std::chrono::system_clock::now()};
  if (v.is_binary()) {
    r.size = v.get_binary().size();
    r.text = fmt::format("<{} bytes>", r.size);
  } else {
    r.text = v.dump(-1, ' ', false, value::error_handler_t::replace);
    r.size = r.text.size();
  }
  return r;
}

message_record image_record(std::string peer, const image& img) {
  return {std::move(peer),
          "image",
          value{{"width", img.width()},
                {"height", img.height()},
                {"order", std::string(to_string(img.order()))}},
          fmt::format("<{}x{} {} image>", img.width(), img.height(), to_string(img.order())),
          img.size_bytes(),
          std::chrono::system_clock::now(),
          true};
}

message_printer::message_printer(std::string format, bool json)
    : format_(format.empty() ? "{peer} {channel} {value}" : std::move(format)), json_(json) {
  if (json_) return;
  try {
    (void)line(value_record("peer", "channel", value(1)));
  } catch (const fmt::format_error& e) {
    throw error(exit_usage, fmt::format("bad --format \"{}\": {} (the names are {{peer}}, "
                                        "{{channel}}, {{value}}, {{size}} and {{time}})",
                                        format_, e.what()));
  }
}

std::string message_printer::line(const message_record& r) const {
  if (json_) {
    value out{{"time", iso_time(r.time)},
              {"peer", r.peer},
              {"channel", r.channel},
              {"size", r.size},
              {"value", r.data.is_binary() ? bytes_json(r.data) : r.data}};
    return out.dump(-1, ' ', false, value::error_handler_t::replace);
  }
  return fmt::format(fmt::runtime(format_), fmt::arg("peer", r.peer),
                     fmt::arg("channel", r.channel), fmt::arg("value", r.text),
                     fmt::arg("size", r.size), fmt::arg("time", iso_time(r.time)));
}

} // namespace socketengine::cli
