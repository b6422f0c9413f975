#include <socketengine/error.hpp>

namespace socketengine {

namespace {
class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "socketengine"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::line_too_long: return "line too long";
    case errc::invalid_json: return "invalid JSON";
    case errc::invalid_utf8: return "invalid UTF-8";
    case errc::too_deep: return "JSON nested too deep";
    case errc::missing_key: return "message lacks \"type\" or \"data\"";
    case errc::invalid_message: return "not a socket.engine message";
    case errc::too_many_channels: return "too many channels";
    case errc::invalid_base64: return "invalid base64";
    case errc::invalid_image: return "invalid image";
    case errc::image_too_large: return "image too large";
    case errc::not_connected: return "not connected";
    case errc::queue_full: return "write queue full";
    case errc::connect_timeout: return "connect timed out";
    case errc::engine_closed: return "engine closed";
    case errc::closed_locally: return "closed locally";
    case errc::peer_closing: return "peer sent __closing";
    case errc::peer_eof: return "peer closed the connection";
    case errc::handler_threw: return "callback threw an exception";
    case errc::callback_queue_overflow: return "callback queue overflow";
    case errc::frame_too_large: return "native frame too large";
    case errc::invalid_frame: return "invalid native frame";
    case errc::receive_timeout: return "message arrived too slowly";
    case errc::not_identified: return "peer did not identify itself";
    case errc::peer_unresponsive: return "peer stopped answering heartbeats";
    case errc::slow_consumer: return "peer too slow to take what is written to it";
    case errc::over_budget: return "engine's budget for what it received spent";
    case errc::unauthenticated: return "peer failed token authentication";
    case errc::hub_not_found: return "no hub of that name answered discovery";
    }
    return "unknown socketengine error";
  }
};
} // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace socketengine
