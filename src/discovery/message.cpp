#include "discovery/message.hpp"

#include <arpa/inet.h>

#include <random>

#include <nlohmann/json.hpp>

#include "util/utf8.hpp"

namespace socketengine::detail::discovery {

namespace {

using json = nlohmann::json;

constexpr std::string_view query_kind = "discover";
constexpr std::string_view answer_kind = "hub";

// The object in `datagram` if it is a discovery datagram of `kind`.
std::optional<json> open(std::string_view datagram, std::string_view kind) {
  if (datagram.empty() || datagram.size() > max_datagram || datagram.front() != '{')
    return std::nullopt;
  // No exceptions: a malformed datagram is an ordinary event here. Depth
  // needs no bound of its own: max_datagram bounds it.
  json j = json::parse(datagram, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto tag = j.find("socketengine");
  if (tag == j.end() || !tag->is_string() || tag->get_ref<const std::string&>() != kind)
    return std::nullopt;
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || v->get<std::int64_t>() < 1) return std::nullopt;
  return j;
}

bool numeric_address(const std::string& text) {
  unsigned char buf[16];
  // inet_pton reads up to a NUL: "10.0.0.1\u0000junk" must not pass.
  if (text.find('\0') != std::string::npos) return false;
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

bool hex_id(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

} // namespace

std::string encode(const query& q) {
  json j = {{"socketengine", query_kind}, {"version", version}};
  if (!q.name.empty()) j["name"] = q.name;
  return j.dump();
}

std::string encode(const answer& a) {
  json j = {{"socketengine", answer_kind},
            {"version", version},
            {"name", a.name},
            {"id", a.id},
            {"protocol", a.protocol},
            {"port", a.port},
            {"tls", a.tls},
            {"token", a.token},
            {"addresses", a.addresses}};
  return j.dump();
}

std::optional<query> parse_query(std::string_view datagram) noexcept {
  try {
    auto j = open(datagram, query_kind);
    if (!j) return std::nullopt;
    query q;
    if (auto n = j->find("name"); n != j->end()) {
      if (!n->is_string()) return std::nullopt;
      q.name = n->get<std::string>();
      if (!q.name.empty() && !valid_name(q.name)) return std::nullopt;
    }
    return q;
  } catch (...) {
    // Only std::bad_alloc can come here; a query that cannot be read is
    // one not answered.
    return std::nullopt;
  }
}

std::optional<answer> parse_answer(std::string_view datagram) noexcept {
  try {
    auto j = open(datagram, answer_kind);
    if (!j) return std::nullopt;
    answer a;
    auto field = [&](const char* key) -> const json* {
      auto it = j->find(key);
      return it == j->end() ? nullptr : &*it;
    };
    auto name = field("name");
    auto id = field("id");
    auto protocol = field("protocol");
    auto port = field("port");
    auto addresses = field("addresses");
    if (!name || !name->is_string() || !id || !id->is_string() || !protocol ||
        !protocol->is_number_integer() || !port || !port->is_number_unsigned() || !addresses ||
        !addresses->is_array() || addresses->size() > max_addresses)
      return std::nullopt;
    a.name = name->get<std::string>();
    a.id = id->get<std::string>();
    auto proto = protocol->get<std::int64_t>();
    auto p = port->get<std::uint64_t>();
    if (!valid_name(a.name) || !hex_id(a.id) || proto < 0 || proto > 255 || p == 0 || p > 65535)
      return std::nullopt;
    a.protocol = static_cast<int>(proto);
    a.port = static_cast<std::uint16_t>(p);
    // Absent flags are false: a hub asks for no more than it says.
    auto flag = [&](const char* key, bool& out) {
      auto f = field(key);
      if (!f) return true;
      if (!f->is_boolean()) return false;
      out = f->get<bool>();
      return true;
    };
    if (!flag("tls", a.tls) || !flag("token", a.token)) return std::nullopt;
    for (const auto& address : *addresses) {
      if (!address.is_string() || !numeric_address(address.get_ref<const std::string&>()))
        return std::nullopt;
      a.addresses.push_back(address.get<std::string>());
    }
    return a;
  } catch (...) {
    return std::nullopt;
  }
}

std::string make_id() {
  std::random_device rd;
  std::string id;
  id.reserve(32);
  for (int word = 0; word < 4; ++word) {
    auto bits = static_cast<std::uint32_t>(rd());
    for (int i = 0; i < 8; ++i, bits >>= 4) id += "0123456789abcdef"[bits & 15u];
  }
  return id;
}

bool valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_name_bytes || !is_utf8(name)) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

} // namespace socketengine::detail::discovery
