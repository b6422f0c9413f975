#pragma once
// What an engine's options say about the protocols its connections speak.

#include <cstddef>
#include <memory>

#include <socketengine/options.hpp>

#include "protocol/auth/handshake.hpp"
#include "util/buffer_pool.hpp"
#include "util/memory_budget.hpp"

namespace socketengine::detail::protocol {

struct settings {
  /// The hub flavour of the legacy protocol: `__name_conn` first on a dial,
  /// images on `__image` acknowledged with `__ack`, `__status` / `__closing`
  /// before closing. Otherwise the host/client flavour: images on `image`,
  /// unacknowledged, and no closing message.
  bool hub = false;
  /// Offer the native protocol (hub_options::native).
  bool offer_native = true;
  /// Bytes asked for per read of lines (at least 4096).
  std::size_t read_size = 4096;
  socketengine::limits limits;
  image_options images;
  /// What readers charge their buffers to (limits::max_receive_bytes),
  /// shared by every connection of an engine; none if empty.
  std::shared_ptr<memory_budget> budget{};
  /// Where native readers take the buffers of large frames (raw images),
  /// shared by every connection of an engine; none if empty.
  std::shared_ptr<buffer_pool> frame_buffers{};
  /// Token authentication (auth_options): the token, or none.
  std::shared_ptr<const auth::secret> token{};
  /// auth_options::allow_legacy.
  bool allow_legacy = false;
  /// The nonces this engine issued, shared by its connections (with a token).
  std::shared_ptr<auth::nonce_registry> nonces{};
};

} // namespace socketengine::detail::protocol
