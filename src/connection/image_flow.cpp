#include "connection/image_flow.hpp"

namespace socketengine::detail {

void image_flow::acknowledged(std::uint32_t count) noexcept {
  for (auto& f : in_flight_) {
    if (count == 0) return;
    if (f.needs_ack && !f.acked) {
      f.acked = true;
      --count;
    }
  }
}

bool image_flow::retire(std::uint64_t written) noexcept {
  bool changed = false;
  while (!in_flight_.empty()) {
    auto& f = in_flight_.front();
    if (written < f.end || (f.needs_ack && !f.acked)) break;
    in_flight_.pop_front();
    changed = true;
  }
  return changed;
}

void image_flow::clear() noexcept {
  in_flight_.clear();
  pending_ = {};
}

} // namespace socketengine::detail
