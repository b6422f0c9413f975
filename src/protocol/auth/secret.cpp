#include "protocol/auth/secret.hpp"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace socketengine::detail::auth {

secret::~secret() {
  // A plain memset of memory about to be freed may be optimized away.
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

namespace {

[[noreturn]] void refuse(std::string_view who, const std::string& what) {
  throw std::invalid_argument("socketengine: " + std::string(who) + ": " + what);
}

std::string without_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

std::string read_token_file(std::string_view path, std::string_view who) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) {
    throw std::system_error(errno, std::generic_category(),
                            "socketengine: " + std::string(who) + ": cannot read auth.token_file " +
                                std::string(path));
  }
  std::string bytes;
  char buf[512];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    bytes.append(buf, static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > max_token_bytes + 2) {
      OPENSSL_cleanse(bytes.data(), bytes.size());
      refuse(who, "auth.token_file " + std::string(path) + " holds more than " +
                      std::to_string(max_token_bytes) + " bytes: not a token");
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return without_newline(std::move(bytes));
}

} // namespace

std::shared_ptr<const secret> resolve_token(const token_source& from, std::string_view who) {
  int sources = !from.token.empty() + !from.file.empty() + !from.env.empty();
  if (sources == 0) return nullptr;
  if (sources > 1) refuse(who, "set one of auth.token, auth.token_file and auth.token_env, not " +
                                   std::to_string(sources));
  std::string bytes;
  if (!from.token.empty()) {
    bytes = from.token;
  } else if (!from.file.empty()) {
    bytes = read_token_file(from.file, who);
    if (bytes.empty()) refuse(who, "auth.token_file " + std::string(from.file) + " is empty");
  } else {
    const char* v = std::getenv(std::string(from.env).c_str());
    if (v == nullptr) refuse(who, "auth.token_env names " + std::string(from.env) + ", which is not set");
    bytes = without_newline(v);
    if (bytes.empty()) refuse(who, "auth.token_env names " + std::string(from.env) + ", which is empty");
  }
  if (bytes.size() > max_token_bytes)
    refuse(who, "the token is longer than " + std::to_string(max_token_bytes) + " bytes");
  return std::make_shared<const secret>(std::move(bytes));
}

} // namespace socketengine::detail::auth
