#pragma once
/// \file mqtt.hpp
/// A bridge between a hub and an MQTT broker (libmosquitto), for fleets: a
/// broker in the middle carries chosen channels to dashboards and services,
/// and topics from the broker reach chosen peers as channels. Link
/// socketengine::mqtt (CMake) to use it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <socketengine/hub.hpp>

namespace socketengine {

/// TLS to the broker, through libmosquitto's own options.
struct mqtt_tls_options {
  bool enabled = false;
  /// CA certificates (PEM) that the broker's certificate must chain to.
  /// Empty: the system's default store.
  std::string ca_file{};
  /// This side's certificate and key (PEM), for brokers that ask for one.
  std::string certificate_file{};
  std::string private_key_file{};
  /// false skips checking that the certificate names the broker's host:
  /// for tests only.
  bool verify_hostname = true;
};

/// A topic on the broker that the bridge subscribes to, and where what
/// arrives on it goes: written to `peer` (by name), or to every peer when
/// `peer` is empty, on a channel named as the topic.
struct mqtt_route {
  /// An MQTT topic filter: `fleet/cmd/#`, `fleet/+/speed`, `fleet/stop`.
  std::string topic_filter{};
  std::string peer{};
};

/// What a bridge sends, where, and what it takes in.
///
/// Topics: a value that peer P writes on channel C to the hub is published
/// to `PREFIX/HUB/P/C`, retained, so a subscriber that joins late gets the
/// latest at once: the same latest-value model as a hub's. A channel name
/// may hold `/` (more topic levels); in HUB and P it is written `%2F`. `+`,
/// `#` and `%`, which a topic name cannot hold as they are, go as `%2B`,
/// `%23` and `%25`. Images go to `PREFIX/HUB/P/image` as the bytes of a
/// JPEG or PNG file.
///
/// Payloads: values as JSON text; images as JPEG or PNG bytes. A message
/// from the broker is read as JSON when it is JSON, as a string when it is
/// other UTF-8 text, and as bytes otherwise.
struct mqtt_bridge_options {
  /// The broker.
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  /// The MQTT client id; empty: `socketengine-HUB-` and a random suffix.
  std::string client_id{};
  /// Username and password, when the broker asks for them.
  std::string username{};
  std::string password{};
  mqtt_tls_options tls{};
  /// MQTT keepalive: the broker is pinged when nothing else went for this
  /// long, and the link is dropped when it does not answer.
  std::chrono::seconds keepalive{30};
  /// Redial delay after the broker is lost: from min, doubling, up to max.
  std::chrono::seconds redial_min{1};
  std::chrono::seconds redial_max{10};

  /// The first topic level of everything published. Must not be empty or
  /// hold `+` or `#`.
  std::string prefix = "socketengine";
  /// This hub's name in the topics: the second level. Must not be empty.
  std::string hub_name{};

  /// Whose values are published: peer names. Empty: every peer (a peer not
  /// yet named is skipped until it is).
  std::vector<std::string> peers{};
  /// Which channels are published. Empty: every channel but the protocol's
  /// own (`__`-prefixed). Entries ending in `*` match by prefix.
  std::vector<std::string> channels{};
  /// Whether images are published, encoded as `image_format` ("jpeg" or
  /// "png") at `jpeg_quality`. They are encoded on the hub's callback
  /// thread (a 640x480 JPEG takes a few milliseconds): for a fast camera,
  /// `min_image_interval` bounds that work as well as the broker's load.
  bool images = true;
  std::string image_format = "jpeg";
  int jpeg_quality = 80;
  /// Largest image published, encoded, in bytes; a larger one is dropped
  /// and counted (stats().images_too_large). Default 4 MiB.
  std::size_t max_image_bytes = std::size_t{4} << 20;
  /// At most one image per peer per this long (0: as they come). Frames in
  /// between are skipped, not queued.
  std::chrono::milliseconds min_image_interval{0};
  /// MQTT quality of service of what is published: 0 (at most once) or 1
  /// (at least once, acknowledged by the broker).
  int qos = 1;

  /// Topics taken from the broker and written to peers.
  std::vector<mqtt_route> inbound{};
};

/// Bridges one hub and one MQTT broker (MQTT 5, through libmosquitto).
///
/// Nothing backs up: each topic holds only its latest value. While a
/// publish on a topic awaits the broker's acknowledgement, or while the
/// broker is unreachable, a newer value replaces the waiting one (counted
/// in stats().replaced); once the broker is back, every topic's latest
/// value is published again. Memory is one value per topic.
///
/// Loops: the bridge subscribes with MQTT 5's no-local option, so its own
/// publishes never come back to it, and tags what it publishes with a user
/// property naming it, dropping anything tagged by itself. A channel whose
/// name is a topic under `prefix` came from a bridge and is not published
/// again, so two bridges that share a broker cannot pass a value between
/// them forever.
///
/// The bridge watches the hub through its callbacks; the hub must outlive
/// the bridge. Thread safety: every member function may be called from any
/// thread but the hub's callbacks.
class mqtt_bridge {
public:
  /// Counters since the bridge started.
  struct statistics {
    std::uint64_t published = 0;        ///< publishes handed to the broker
    std::uint64_t acknowledged = 0;     ///< of those, confirmed (QoS 1) or sent (QoS 0)
    std::uint64_t replaced = 0;         ///< values replaced by newer ones before going
    std::uint64_t received = 0;         ///< messages from the broker
    std::uint64_t written = 0;          ///< writes of those to peers
    std::uint64_t images_too_large = 0; ///< images over max_image_bytes
    std::uint64_t connects = 0;         ///< times the broker accepted the bridge
    std::size_t topics = 0;             ///< topics held (one latest value each)
  };

  /// Starts bridging `h`: watches its messages and dials the broker in the
  /// background (redialling while it is unreachable).
  /// \throws std::invalid_argument for a bad option (naming it);
  ///         std::runtime_error when libmosquitto refuses the settings.
  mqtt_bridge(hub& h, mqtt_bridge_options options);

  /// Stops: disconnects from the broker and stops watching the hub.
  ~mqtt_bridge();

  mqtt_bridge(const mqtt_bridge&) = delete;
  mqtt_bridge& operator=(const mqtt_bridge&) = delete;

  /// True while the broker has accepted the bridge, the link holds and the
  /// broker has acknowledged every inbound subscription.
  [[nodiscard]] bool connected() const;

  /// Waits until connected(); false if `timeout` passes first.
  bool wait_until_connected(std::chrono::milliseconds timeout) const;

  /// Waits until every topic's latest value has been published and
  /// acknowledged; false if `timeout` passes first.
  bool flush(std::chrono::milliseconds timeout) const;

  [[nodiscard]] statistics stats() const;

  /// Why the broker last refused or dropped the bridge (for example "the
  /// broker refused the bridge: Bad user name or password"); empty once it
  /// is connected again. The bridge keeps redialling either way.
  [[nodiscard]] std::string last_error() const;

  /// The topic a value from `peer` on `channel` is published to.
  [[nodiscard]] std::string topic_of(std::string_view peer, std::string_view channel) const;

private:
  struct state;
  std::shared_ptr<state> state_;
};

} // namespace socketengine
