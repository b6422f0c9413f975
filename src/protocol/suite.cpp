#include "protocol/suite.hpp"

#include "protocol/auth/reader.hpp"
#include "protocol/legacy/channels.hpp"
#include "protocol/legacy/reader.hpp"
#include "protocol/native/frame_codec.hpp"
#include "protocol/native/reader.hpp"

namespace socketengine::detail::protocol {

suite::suite(const protocol::settings& s)
    : settings_(s), offered_(s.offer_native ? native::version : 0),
      legacy_out_(0, settings_, offered_), native_out_(1, settings_) {}

std::unique_ptr<reader> suite::first_reader() const {
  return std::make_unique<legacy::reader>(settings_, offered_);
}

std::unique_ptr<reader> suite::reader_after_switch(std::string_view rest) const {
  return std::make_unique<native::reader>(settings_, offered_, rest);
}

std::unique_ptr<reader> suite::start_link(bool dialled, std::optional<std::string_view> name,
                                          std::string& greeting) const {
  if (!authenticates()) {
    append_greeting(greeting, name);
    return first_reader();
  }
  auto mine = settings_.nonces->issue();
  legacy_out_.append_hello(greeting, mine);
  return std::make_unique<auth::reader>(settings_,
                                        dialled ? auth::role::dialler : auth::role::listener, mine);
}

std::unique_ptr<reader> suite::reader_after_auth(std::string_view rest) const {
  return std::make_unique<legacy::reader>(settings_, offered_, rest);
}

bool suite::exempt_from_limit(std::string_view channel) noexcept {
  return legacy::channels::exempt_from_limit(channel);
}

const writer* suite::upgrade(std::string& out) const {
  if (offered_ == 0) return nullptr;
  legacy_out_.append_switch(out);
  return &native_out_;
}

} // namespace socketengine::detail::protocol
