#include <socketengine/mqtt.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <socketengine/image_codec.hpp>

#include "mqtt/topic.hpp"
#include "util/utf8.hpp"

namespace socketengine {

namespace {

using clock_type = std::chrono::steady_clock;

// The MQTT 5 user property that names the bridge a message came from.
constexpr const char* origin_property = "socketengine-origin";

void lib_init() {
  // Not thread safe, and process-wide: once, and never cleaned up, as other
  // users of libmosquitto in the process may still need it.
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string random_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> hex(0, 15);
  std::string s;
  for (int i = 0; i < 8; ++i) s += "0123456789abcdef"[hex(rd)];
  return s;
}

void check(int rc, const char* what) {
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error(std::string("socketengine: mqtt_bridge: ") + what + ": " +
                             mosquitto_strerror(rc));
}

void validate(const mqtt_bridge_options& o) {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("socketengine: mqtt_bridge_options::" + what);
  };
  if (o.host.empty()) bad("host is empty");
  if (o.prefix.empty() || !mqtt::is_plain_level_path(o.prefix))
    bad("prefix must not be empty or hold '+', '#' or NUL");
  if (o.hub_name.empty()) bad("hub_name is empty");
  if (o.qos != 0 && o.qos != 1) bad("qos must be 0 or 1");
  if (o.image_format != "jpeg" && o.image_format != "png")
    bad("image_format must be \"jpeg\" or \"png\"");
  if (o.redial_min.count() < 1 || o.redial_max < o.redial_min)
    bad("redial_min must be at least 1 s and redial_max at least redial_min");
  for (const auto& r : o.inbound)
    if (r.topic_filter.empty() ||
        mosquitto_sub_topic_check(r.topic_filter.c_str()) != MOSQ_ERR_SUCCESS)
      bad("inbound: \"" + r.topic_filter + "\" is not a topic filter");
}

bool channel_chosen(const std::vector<std::string>& chosen, const std::string& channel) {
  if (chosen.empty()) return channel.rfind("__", 0) != 0;
  return std::any_of(chosen.begin(), chosen.end(), [&](const std::string& c) {
    if (c.ends_with('*')) return channel.starts_with(std::string_view(c).substr(0, c.size() - 1));
    return c == channel;
  });
}

// A message from the broker as a value: JSON when it is JSON, a string when
// it is other UTF-8 text, bytes otherwise.
value value_of(const void* payload, int length) {
  const auto* p = static_cast<const char*>(payload);
  const std::string_view text(p ? p : "", static_cast<std::size_t>(std::max(length, 0)));
  if (detail::is_utf8(text)) {
    auto v = value::parse(text, nullptr, false);
    if (!v.is_discarded()) return v;
    return value(std::string(text));
  }
  const auto* b = reinterpret_cast<const std::uint8_t*>(text.data());
  return value::binary(std::vector<std::uint8_t>(b, b + text.size()));
}

} // namespace

struct mqtt_bridge::state {
  state(hub& h, mqtt_bridge_options o) : h(h), opt(std::move(o)) {}

  ~state() {
    if (mosq) mosquitto_destroy(mosq);
  }

  struct topic_state {
    std::string payload;
    bool dirty = false;     // a value not yet published
    bool in_flight = false; // a publish not yet acknowledged
  };

  hub& h;
  const mqtt_bridge_options opt;
  std::string origin; // the client id, also the origin tag
  mosquitto* mosq = nullptr;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool stopped = false;
  bool is_connected = false;   // the broker accepted us: publishes may go
  std::size_t subscribing = 0; // inbound subscriptions not yet acknowledged
  std::unordered_map<std::string, topic_state> topics;
  std::unordered_map<int, std::string> in_flight;                     // message id -> topic
  std::unordered_map<std::string, clock_type::time_point> last_image; // per peer
  statistics counts;
  std::string last_error; // why the broker refused or dropped the bridge, last

  // --- from the hub's callback thread -----------------------------------------

  bool peer_chosen(const std::string& peer) const {
    if (peer.empty()) return false;
    return opt.peers.empty() ||
           std::find(opt.peers.begin(), opt.peers.end(), peer) != opt.peers.end();
  }

  void on_value(const connection& c, const std::string& channel, const value& v) {
    const auto peer = c.name();
    if (!peer_chosen(peer) || !channel_chosen(opt.channels, channel)) return;
    // A topic under our prefix came in through a bridge: passing it on
    // again is how two bridges would loop.
    if (channel.starts_with(opt.prefix) && channel.size() > opt.prefix.size() &&
        channel[opt.prefix.size()] == '/')
      return;
    offer(mqtt::topic(opt.prefix, opt.hub_name, peer, channel),
          v.is_binary() ? std::string(v.get_binary().begin(), v.get_binary().end()) : v.dump());
  }

  void on_image(const connection& c, const image& img) {
    if (!opt.images) return;
    const auto peer = c.name();
    if (!peer_chosen(peer)) return;
    const auto now = clock_type::now();
    {
      std::lock_guard lk(mu);
      auto [it, first] = last_image.try_emplace(peer, now);
      if (!first) {
        if (now - it->second < opt.min_image_interval) return;
        it->second = now;
      }
    }
    auto bytes = opt.image_format == "png" ? encode_png(img) : encode_jpeg(img, opt.jpeg_quality);
    if (bytes.size() > opt.max_image_bytes) {
      std::lock_guard lk(mu);
      ++counts.images_too_large;
      return;
    }
    offer(mqtt::topic(opt.prefix, opt.hub_name, peer, "image"), std::move(bytes));
  }

  // Keeps `payload` as the topic's latest value and publishes it unless a
  // publish on the topic is in flight, or the broker is away.
  void offer(std::string topic, std::string payload) {
    std::lock_guard lk(mu);
    if (stopped) return;
    auto& t = topics[topic];
    if (t.dirty) ++counts.replaced;
    t.payload = std::move(payload);
    t.dirty = true;
    if (is_connected && !t.in_flight) publish_locked(topic, t);
  }

  // --- publishing (with mu held) -------------------------------------------------

  // libmosquitto's publish only queues the packet for its own thread, and
  // takes none of the locks it holds while calling our callbacks, so it is
  // called with `mu` held: the message id is recorded before the
  // acknowledgement can be handled.
  void publish_locked(const std::string& topic, topic_state& t) {
    mosquitto_property* props = nullptr;
    mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, origin_property,
                                       origin.c_str());
    int mid = 0;
    const int rc =
        mosquitto_publish_v5(mosq, &mid, topic.c_str(), static_cast<int>(t.payload.size()),
                             t.payload.data(), opt.qos, true, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) return; // kept dirty: published once connected again
    t.dirty = false;
    t.in_flight = true;
    in_flight[mid] = topic;
    ++counts.published;
  }

  void publish_all_locked() {
    for (auto& [topic, t] : topics)
      if (t.dirty && !t.in_flight) publish_locked(topic, t);
  }

  // --- from libmosquitto's thread ----------------------------------------------

  void on_connect(int rc) {
    if (rc != 0) { // refused: libmosquitto redials
      std::lock_guard lk(mu);
      last_error = std::string("the broker refused the bridge: ") + mosquitto_reason_string(rc);
      return;
    }
    {
      std::lock_guard lk(mu);
      is_connected = true;
      last_error.clear();
      ++counts.connects;
      // Whatever was in flight on the old link is settled by the broker or
      // lost: every latest value goes again, retained.
      in_flight.clear();
      for (auto& [topic, t] : topics) {
        t.in_flight = false;
        t.dirty = true;
      }
      publish_all_locked();
      subscribing = 0;
      for (const auto& r : opt.inbound)
        if (mosquitto_subscribe_v5(mosq, nullptr, r.topic_filter.c_str(), 1, MQTT_SUB_OPT_NO_LOCAL,
                                   nullptr) == MOSQ_ERR_SUCCESS)
          ++subscribing;
    }
    cv.notify_all();
  }

  void on_subscribe() {
    {
      std::lock_guard lk(mu);
      if (subscribing > 0) --subscribing;
    }
    cv.notify_all();
  }

  void on_disconnect(int rc) {
    std::lock_guard lk(mu);
    const bool was_connected = is_connected;
    is_connected = false;
    // 0: we asked for it. libmosquitto passes its own error codes here when
    // the link broke, the broker's reason codes when it said why. A refusal
    // ends in a disconnect too: its reason, said by on_connect, stays.
    if (rc != 0 && !stopped && was_connected)
      last_error = std::string("lost the broker: ") +
                   (rc < 128 ? mosquitto_strerror(rc) : mosquitto_reason_string(rc));
  }

  bool ready_locked() const { return is_connected && subscribing == 0; }

  void on_publish(int mid) {
    {
      std::lock_guard lk(mu);
      auto it = in_flight.find(mid);
      if (it == in_flight.end()) return; // from a link since replaced
      auto t = topics.find(it->second);
      in_flight.erase(it);
      ++counts.acknowledged;
      if (t != topics.end()) {
        t->second.in_flight = false;
        if (t->second.dirty && is_connected) publish_locked(t->first, t->second);
      }
    }
    cv.notify_all();
  }

  void on_message(const mosquitto_message& m, const mosquitto_property* props) {
    // Our own, come back through a broker that ignores no-local.
    bool ours = false;
    bool skip_first = false;
    for (const mosquitto_property* p = props;; skip_first = true) {
      char* name = nullptr;
      char* tag = nullptr;
      p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &tag, skip_first);
      if (!p) break;
      ours = ours || (std::strcmp(name, origin_property) == 0 && origin == tag);
      std::free(name);
      std::free(tag);
    }
    {
      std::lock_guard lk(mu);
      if (stopped || ours) return;
      ++counts.received;
    }
    const std::string topic(m.topic);
    const auto v = value_of(m.payload, m.payloadlen);
    std::uint64_t writes = 0;
    for (const auto& r : opt.inbound) {
      bool match = false;
      mosquitto_topic_matches_sub(r.topic_filter.c_str(), m.topic, &match);
      if (!match) continue;
      writes += r.peer.empty() ? h.write_all(topic, v) : h.write_to_name(r.peer, topic, v);
    }
    std::lock_guard lk(mu);
    counts.written += writes;
  }
};

mqtt_bridge::mqtt_bridge(hub& h, mqtt_bridge_options options) {
  validate(options);
  lib_init();
  auto s = std::make_shared<state>(h, std::move(options));
  const auto& o = s->opt;
  s->origin =
      o.client_id.empty() ? "socketengine-" + o.hub_name + "-" + random_suffix() : o.client_id;
  s->mosq = mosquitto_new(s->origin.c_str(), true, s.get());
  if (!s->mosq) throw std::runtime_error("socketengine: mqtt_bridge: mosquitto_new failed");
  check(mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5), "MQTT 5");
  if (!o.username.empty())
    check(mosquitto_username_pw_set(s->mosq, o.username.c_str(),
                                    o.password.empty() ? nullptr : o.password.c_str()),
          "username");
  if (o.tls.enabled) {
    auto opt_str = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    check(mosquitto_tls_set(
              s->mosq, opt_str(o.tls.ca_file), o.tls.ca_file.empty() ? "/etc/ssl/certs" : nullptr,
              opt_str(o.tls.certificate_file), opt_str(o.tls.private_key_file), nullptr),
          "TLS files");
    check(mosquitto_tls_insecure_set(s->mosq, !o.tls.verify_hostname), "TLS host check");
  }
  check(mosquitto_reconnect_delay_set(s->mosq, static_cast<unsigned>(o.redial_min.count()),
                                      static_cast<unsigned>(o.redial_max.count()), true),
        "redial delay");
  mosquitto_connect_v5_callback_set(
      s->mosq, [](mosquitto*, void* self, int rc, int, const mosquitto_property*) {
        static_cast<state*>(self)->on_connect(rc);
      });
  mosquitto_disconnect_v5_callback_set(
      s->mosq, [](mosquitto*, void* self, int rc, const mosquitto_property*) {
        static_cast<state*>(self)->on_disconnect(rc);
      });
  mosquitto_subscribe_v5_callback_set(
      s->mosq, [](mosquitto*, void* self, int, int, const int*, const mosquitto_property*) {
        static_cast<state*>(self)->on_subscribe();
      });
  mosquitto_publish_v5_callback_set(
      s->mosq, [](mosquitto*, void* self, int mid, int, const mosquitto_property*) {
        static_cast<state*>(self)->on_publish(mid);
      });
  mosquitto_message_v5_callback_set(s->mosq, [](mosquitto*, void* self, const mosquitto_message* m,
                                                const mosquitto_property* props) {
    static_cast<state*>(self)->on_message(*m, props);
  });

  // The hub's handlers stay for the hub's life: they hold the state weakly
  // and do nothing once the bridge is gone.
  std::weak_ptr<state> weak = s;
  h.on_message(
      [weak](const std::shared_ptr<connection>& c, const std::string& channel, const value& v) {
        if (auto s = weak.lock()) s->on_value(*c, channel, v);
      });
  h.on_image([weak](const std::shared_ptr<connection>& c, const image& img) {
    if (auto s = weak.lock()) s->on_image(*c, img);
  });

  check(mosquitto_loop_start(s->mosq), "its thread");
  // Dials in the background: the broker may be down now and up later.
  const int rc = mosquitto_connect_async(s->mosq, o.host.c_str(), o.port,
                                         static_cast<int>(o.keepalive.count()));
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
    mosquitto_loop_stop(s->mosq, true);
    check(rc, "dialling the broker");
  }
  state_ = std::move(s);
}

mqtt_bridge::~mqtt_bridge() {
  {
    std::lock_guard lk(state_->mu);
    state_->stopped = true;
  }
  mosquitto_disconnect_v5(state_->mosq, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
  mosquitto_loop_stop(state_->mosq, false);
}

bool mqtt_bridge::connected() const {
  std::lock_guard lk(state_->mu);
  return state_->ready_locked();
}

bool mqtt_bridge::wait_until_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lk(state_->mu);
  return state_->cv.wait_for(lk, timeout, [&] { return state_->ready_locked(); });
}

bool mqtt_bridge::flush(std::chrono::milliseconds timeout) const {
  std::unique_lock lk(state_->mu);
  return state_->cv.wait_for(lk, timeout, [&] {
    return state_->is_connected &&
           std::none_of(state_->topics.begin(), state_->topics.end(),
                        [](const auto& t) { return t.second.dirty || t.second.in_flight; });
  });
}

std::string mqtt_bridge::last_error() const {
  std::lock_guard lk(state_->mu);
  return state_->last_error;
}

mqtt_bridge::statistics mqtt_bridge::stats() const {
  std::lock_guard lk(state_->mu);
  auto s = state_->counts;
  s.topics = state_->topics.size();
  return s;
}

std::string mqtt_bridge::topic_of(std::string_view peer, std::string_view channel) const {
  return mqtt::topic(state_->opt.prefix, state_->opt.hub_name, peer, channel);
}

} // namespace socketengine
