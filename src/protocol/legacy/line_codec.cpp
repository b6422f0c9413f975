#include "protocol/legacy/line_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <socketengine/error.hpp>

#include "protocol/legacy/base64.hpp"
#include "util/utf8.hpp"
#include "image/png.hpp"

namespace socketengine::detail::legacy {

namespace {

// A per-thread image buffer that grew past this for one large frame is
// given back rather than kept for the life of the thread; camera frames
// stay below it and reuse their buffer.
constexpr std::size_t keep_image_buffer = std::size_t{8} << 20;

void trim(std::string& buffer) {
  if (buffer.capacity() > keep_image_buffer) std::string().swap(buffer);
}

// True when JSON writes `s` between quotes as it is: printable ASCII with no
// quote or backslash (nlohmann escapes DEL too when ensure_ascii is on).
bool plain_ascii(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
}

// One nlohmann serializer writing straight into `out`, as dump() does
// inside, without dump()'s string.
void serialize(std::string& out, const value& v) {
  nlohmann::detail::serializer<value> s(nlohmann::detail::output_adapter<char, std::string>(out),
                                        ' ', value::error_handler_t::strict);
  s.dump(v, /*pretty_print=*/false, /*ensure_ascii=*/true, /*indent_step=*/0);
}

// Appends `v` as nlohmann's dump(-1, ' ', true) would, byte for byte. Every
// dump() builds a serializer (which asks the C locale for its decimal point)
// and a string: half the cost of writing a small message. The usual values
// (integers, booleans, null, plain strings) are written here instead.
void append_json(std::string& out, const value& v) {
  char digits[24];
  switch (v.type()) {
  case value::value_t::number_integer: {
    auto r = std::to_chars(digits, digits + sizeof digits, v.get<std::int64_t>());
    out.append(digits, r.ptr);
    return;
  }
  case value::value_t::number_unsigned: {
    auto r = std::to_chars(digits, digits + sizeof digits, v.get<std::uint64_t>());
    out.append(digits, r.ptr);
    return;
  }
  case value::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
  case value::value_t::null: out += "null"; return;
  case value::value_t::string: {
    const auto& text = v.get_ref<const std::string&>();
    if (!plain_ascii(text)) break;
    out += '"';
    out += text;
    out += '"';
    return;
  }
  case value::value_t::binary: {
    // The legacy protocol has no bytes: they go as a base64 string, as
    // images do.
    const auto& bytes = v.get_binary();
    out += '"';
    std::size_t at = out.size();
    out.resize(at + base64::encoded_size(bytes.size()));
    base64::encode(bytes, out.data() + at);
    out += '"';
    return;
  }
  default: break;
  }
  serialize(out, v);
}

// Steps through a line for the two shortcut readers below, skipping JSON
// whitespace before each piece. A false answer leaves the line to the full
// parser.
struct line_cursor {
  std::string_view line;
  std::size_t i = 0;

  void skip_space() {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\r'))
      ++i;
  }
  bool token(std::string_view t) {
    skip_space();
    if (line.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  }
  // `"t"`, without building the quoted string.
  bool quoted(std::string_view t) {
    skip_space();
    if (i + t.size() + 2 > line.size() || line[i] != '"' || line.substr(i + 1, t.size()) != t ||
        line[i + 1 + t.size()] != '"')
      return false;
    i += t.size() + 2;
    return true;
  }
  // Only whitespace is left.
  bool at_end() {
    skip_space();
    return i == line.size();
  }
};

// A string with no escapes and no control characters is its own value:
// reads one at the cursor into `out`.
bool plain_string(line_cursor& at, std::string_view& out) {
  auto& line = at.line;
  auto& i = at.i;
  at.skip_space();
  if (i >= line.size() || line[i] != '"') return false;
  std::size_t start = ++i;
  while (i < line.size() && line[i] != '"') {
    auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c == '\\') return false;
    ++i;
  }
  if (i >= line.size()) return false;
  out = line.substr(start, i - start);
  ++i;
  return true;
}

// Reads the values nearly every message carries at the cursor: an integer,
// a string without escapes, true, false or null, into `v` as nlohmann's
// parser would (non-negative integers unsigned). Anything else (floats,
// escapes, arrays, integers past 64 bits) returns false and takes the full
// parser. Parsing a small value with nlohmann costs a parser object and the
// C locale lookups: most of a receiver's cost per message.
bool match_simple_value(line_cursor& at, value& v) {
  auto& line = at.line;
  auto& i = at.i;
  at.skip_space();
  if (i >= line.size()) return false;
  char c = line[i];
  if (c == '"') {
    std::string_view s;
    if (!plain_string(at, s)) return false;
    v = std::string(s);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    std::size_t start = i;
    if (line[i] == '-') ++i;
    std::size_t digits = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
    if (i == digits || (line[digits] == '0' && i - digits > 1)) return false; // JSON: no leading 0
    if (i < line.size() && (line[i] == '.' || line[i] == 'e' || line[i] == 'E')) return false;
    const char* first = line.data() + start;
    const char* last = line.data() + i;
    if (c == '-') {
      std::int64_t n = 0;
      if (std::from_chars(first, last, n).ec != std::errc()) return false;
      v = n;
    } else {
      std::uint64_t n = 0;
      if (std::from_chars(first, last, n).ec != std::errc()) return false;
      v = n;
    }
  } else if (line.substr(i, 4) == "true") {
    v = true;
    i += 4;
  } else if (line.substr(i, 5) == "false") {
    v = false;
    i += 5;
  } else if (line.substr(i, 4) == "null") {
    v = nullptr;
    i += 4;
  } else {
    return false;
  }
  return true;
}

// Reads the shape nearly every line has, {"type":"<channel>","data":<v>}
// with <v> one of match_simple_value's, in any JSON spacing; other key
// orders take the full parser. The line has passed prescan_line, so its
// bytes are UTF-8.
bool match_simple_line(std::string_view line, std::string& channel, value& data) {
  line_cursor at{line};
  std::string_view text;
  if (!at.token("{") || !at.quoted("type") || !at.token(":") || !plain_string(at, text) ||
      !at.token(",") || !at.quoted("data") || !at.token(":"))
    return false;
  value v;
  if (!match_simple_value(at, v) || !at.token("}") || !at.at_end()) return false;
  channel.assign(text);
  data = std::move(v);
  return true;
}

} // namespace

std::error_code prescan_line(std::string_view line, std::size_t max_depth, std::string* detail) {
  auto* p = reinterpret_cast<const unsigned char*>(line.data());
  auto* end = p + line.size();
  std::size_t depth = 0;
  bool in_string = false;
  while (p < end) {
    unsigned char c = *p;
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(p, end);
      if (n == 0) {
        if (detail)
          *detail = "byte " + std::to_string(p - reinterpret_cast<const unsigned char*>(line.data())) +
                    " is not UTF-8";
        return errc::invalid_utf8;
      }
      p += n;
      continue;
    }
    if (in_string) {
      if (c == '\\') {
        // The escaped character cannot end the string; JSON escapes are ASCII.
        p += (p + 1 < end) ? 2 : 1;
        continue;
      }
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        if (detail) *detail = "nesting deeper than " + std::to_string(max_depth);
        return errc::too_deep;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
    ++p;
  }
  return {};
}

decode_result decode_line(std::string_view line, std::size_t max_depth) {
  decode_result r;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return r; // blank

  auto fail = [&](errc e, std::string why) {
    r.what = decode_result::status::error;
    r.error = e;
    r.detail = std::move(why);
    return std::move(r);
  };

  std::string detail;
  if (auto ec = prescan_line(line, max_depth, &detail))
    return fail(static_cast<errc>(ec.value()), std::move(detail));

  if (match_simple_line(line, r.message.channel, r.message.data)) {
    r.what = decode_result::status::message;
    return r;
  }

  // No exceptions on the hot path: a parse failure yields a discarded value.
  value doc = value::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(errc::invalid_json, "not valid JSON");
  if (!doc.is_object()) return fail(errc::invalid_message, "not a JSON object");
  auto type = doc.find("type");
  auto data = doc.find("data");
  if (type == doc.end() || data == doc.end())
    return fail(errc::missing_key, type == doc.end() ? "no \"type\" key" : "no \"data\" key");
  if (!type->is_string()) return fail(errc::invalid_message, "\"type\" is not a string");

  r.what = decode_result::status::message;
  r.message.channel = std::move(type->get_ref<std::string&>());
  r.message.data = std::move(*data);
  return r;
}

void append_image_line(std::string& out, std::string_view channel,
                       std::span<const std::uint8_t> png) {
  out += R"({"type":)";
  out += value(channel).dump();
  out += R"(,"data":")";
  std::size_t at = out.size();
  out.resize(at + base64::encoded_size(png.size()));
  base64::encode(png, out.data() + at);
  out += "\"}\n";
}

std::error_code decode_value(std::string_view text, std::size_t max_depth, value& out,
                             std::string& detail) {
  if (auto ec = prescan_line(text, max_depth, &detail)) return ec;
  line_cursor at{text};
  if (match_simple_value(at, out) && at.at_end()) return {};
  value doc = value::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    detail = "not valid JSON";
    return errc::invalid_json;
  }
  out = std::move(doc);
  return {};
}

void append_value(std::string& out, const value& v) {
  std::size_t mark = out.size();
  try {
    append_json(out, v);
  } catch (const nlohmann::json::type_error&) {
    out.resize(mark);
    throw std::system_error(errc::invalid_utf8, "a string in the value is not valid UTF-8");
  }
}

void append_line(std::string& out, std::string_view channel, const value& v) {
  std::size_t mark = out.size();
  try {
    out += R"({"type":)";
    if (plain_ascii(channel)) {
      out += '"';
      out += channel;
      out += '"';
    } else {
      serialize(out, value(channel));
    }
    out += R"(,"data":)";
    append_json(out, v);
    out += "}\n";
  } catch (const nlohmann::json::type_error&) {
    out.resize(mark);
    throw std::system_error(errc::invalid_utf8, "channel or value is not valid UTF-8");
  }
}

void append_image_line(std::string& out, std::string_view channel, const image& img,
                       int png_level) {
  // The PNG is built in a buffer kept per thread (a camera thread writes
  // frame after frame), then base64-encoded straight into the line.
  thread_local std::string buffer;
  buffer.clear();
  png::encode(img, png_level, buffer);
  append_image_line(out, channel,
                    {reinterpret_cast<const std::uint8_t*>(buffer.data()), buffer.size()});
  trim(buffer);
}

std::optional<std::string_view> match_image_line(std::string_view line,
                                                 std::string_view channel) {
  line_cursor at{line};
  if (!at.token("{") || !at.quoted("type") || !at.token(":") || !at.quoted(channel) ||
      !at.token(",") || !at.quoted("data") || !at.token(":") || !at.token("\""))
    return std::nullopt;
  std::size_t start = at.i;
  const void* close = std::memchr(line.data() + start, '"', line.size() - start);
  if (close == nullptr) return std::nullopt;
  std::size_t end = static_cast<std::size_t>(static_cast<const char*>(close) - line.data());
  std::string_view text = line.substr(start, end - start);
  // Printable ASCII without escapes only: then the text is the string's
  // value as it stands and valid UTF-8, and may be stored as it is.
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return c < 0x20 || c > 0x7E || c == '\\'; }))
    return std::nullopt;
  at.i = end + 1;
  if (!at.token("}") || !at.at_end()) return std::nullopt;
  return text;
}

std::optional<image> decode_image_data(std::string_view base64, std::uint64_t max_pixels,
                                       std::error_code& ec, std::string& detail) {
  // The decoded PNG lives in a buffer kept per thread: the I/O thread
  // decodes frame after frame.
  thread_local std::string buffer;
  buffer.resize(base64::max_decoded_size(base64.size()));
  auto n = base64::decode(base64, reinterpret_cast<std::uint8_t*>(buffer.data()));
  std::optional<image> img;
  if (!n) {
    ec = errc::invalid_base64;
    detail = "image data of " + std::to_string(base64.size()) + " characters is not base64";
  } else {
    img = png::decode({reinterpret_cast<const std::uint8_t*>(buffer.data()), *n}, max_pixels, ec,
                      detail);
  }
  trim(buffer);
  return img;
}

std::optional<std::vector<std::uint8_t>> decode_image_base64(std::string_view base64,
                                                             std::error_code& ec,
                                                             std::string& detail) {
  std::vector<std::uint8_t> png(base64::max_decoded_size(base64.size()));
  auto n = base64::decode(base64, png.data());
  if (!n) {
    ec = errc::invalid_base64;
    detail = "image data of " + std::to_string(base64.size()) + " characters is not base64";
    return std::nullopt;
  }
  png.resize(*n);
  return png;
}

std::optional<image> decode_image_png(std::span<const std::uint8_t> png, std::uint64_t max_pixels,
                                      std::error_code& ec, std::string& detail) {
  return png::decode(png, max_pixels, ec, detail);
}

} // namespace socketengine::detail::legacy
