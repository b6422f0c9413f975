#pragma once
// What `socketengine view` shows: every peer's channels with their latest
// values, and each peer's latest camera frame. The hub's callbacks feed it
// (any thread); the web server reads it (its own thread). Only the latest
// value of each channel and the latest frame of each peer are kept, so its
// size is that of what the peers hold, whatever their rates.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <socketengine/image.hpp>
#include <socketengine/value.hpp>

#include "../watch_table.hpp"

namespace socketengine::cli::viewer {

/// How frames go to browsers: re-encoded from the decoded pixels, since a
/// frame may have come as PNG, JPEG or raw pixels and a browser shows only
/// the first two.
enum class frame_format { jpeg, png };

/// A channel of a peer, or a peer's stream of frames. Ids start at 1 and
/// grow: a client that knows the topics up to id N asks for those after N.
struct topic {
  std::uint32_t id = 0;
  std::string peer;
  std::string channel; // "image" for a stream of frames
  bool is_image = false;
};

/// The latest value of a channel, as JSON text.
struct latest_value {
  std::uint64_t seq = 0;          // how many have arrived on the channel
  std::int64_t received_ns = 0;   // when the last one came (system clock, since the epoch)
  std::string json;               // a bytes value shows as the string "<N bytes>"
};

/// The latest frame of a stream, encoded for browsers once, whoever asks.
struct encoded_frame {
  std::uint32_t stream = 0;
  std::uint64_t seq = 0;
  std::int64_t received_ns = 0;
  std::uint32_t width = 0, height = 0;
  frame_format format = frame_format::jpeg;
  std::string bytes;
};

class model {
public:
  model(frame_format format, int jpeg_quality);

  // Fed from the hub's callbacks, on any thread.
  void on_value(const std::string& peer, const std::string& channel, const value& v);
  void on_frame(const std::string& peer, const image& img);
  void on_peer(const std::string& peer, bool open);

  /// Called after every change, on the thread that made it. Set once,
  /// before the model is fed; it must return quickly.
  void on_change(std::function<void()> notify) { notify_ = std::move(notify); }

  // Read by the web server, on any thread.

  /// Bumped on every change: nothing is new for a reader that saw this.
  [[nodiscard]] std::uint64_t version() const noexcept { return version_.load(); }
  /// Topic `id`, if there is one.
  [[nodiscard]] std::optional<topic> topic_of(std::uint32_t id) const;
  /// The topics with ids above `after`, in id order.
  [[nodiscard]] std::vector<topic> topics_after(std::uint32_t after) const;
  /// The latest value of topic `id`, if one newer than `after_seq` came.
  [[nodiscard]] std::optional<latest_value> value_after(std::uint32_t id,
                                                        std::uint64_t after_seq) const;
  /// Values (topic, value) that changed since version `since`.
  [[nodiscard]] std::vector<std::pair<topic, latest_value>> values_since(std::uint64_t since) const;
  /// The latest frame of stream `id`, encoded, if one newer than `after_seq`
  /// came; null otherwise. Encodes at most once per frame: the first caller
  /// pays, and meanwhile no lock that the hub's callbacks take is held.
  [[nodiscard]] std::shared_ptr<const encoded_frame> frame_after(std::uint32_t id,
                                                                 std::uint64_t after_seq);

  /// Rates, sizes and ages of every topic, as watch counts them.
  struct rates {
    std::uint32_t id = 0;
    double per_second = 0, bytes_per_second = 0, age_seconds = 0;
    std::size_t last_size = 0;
    std::uint64_t total = 0;
    std::uint32_t width = 0, height = 0; // streams
  };
  [[nodiscard]] std::vector<rates> all_rates();
  /// Peers and whether their link is open, by name.
  [[nodiscard]] std::vector<std::pair<std::string, bool>> peers() const;

private:
  struct entry {
    topic t;
    latest_value last;        // values
    image frame;              // streams: shares the connection's pixels
    std::uint64_t changed = 0; // the model's version when it last changed
    std::shared_ptr<const encoded_frame> encoded; // of frame, once asked for
  };
  // Null past max_topics: a peer cannot grow the viewer without bound.
  entry* entry_for(const std::string& peer, const std::string& channel, bool is_image);
  void changed(entry& e);
  static constexpr std::size_t max_topics = 65536;

  const frame_format format_;
  const int jpeg_quality_;
  std::function<void()> notify_;
  watch_table counts_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, bool>, std::uint32_t> ids_;
  std::deque<entry> entries_; // entries_[id - 1]; a deque, so references stay good
  std::map<std::string, bool> peers_;
  std::atomic<std::uint64_t> version_{0};
};

} // namespace socketengine::cli::viewer
