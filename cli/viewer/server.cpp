#include "server.hpp"

#include <array>
#include <atomic>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include "protocol/legacy/base64.hpp"

#include "page.hpp"

namespace socketengine::cli::viewer {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::string_view page_subprotocol = "socketengine.viewer.v1";
constexpr std::string_view foxglove_subprotocol = "foxglove.websocket.v1";

// How often every client is looked at even when nothing changed: ages and
// rates move on their own.
constexpr auto tick_interval = std::chrono::milliseconds(100);
// The page's values go out at most this often; rates and ages this often.
constexpr auto state_interval = std::chrono::milliseconds(50);
constexpr auto rates_interval = std::chrono::milliseconds(500);
// Requests are small: a page, an upgrade. Anything bigger is not a browser.
constexpr std::uint32_t max_request_header = 8 * 1024;
constexpr std::uint64_t max_request_body = 1024;
// What a client may send in one message: the page sends acknowledgements;
// Foxglove subscribes, one entry per topic.
constexpr std::size_t max_page_message = 1024;
constexpr std::size_t max_foxglove_message = 1024 * 1024;
// Foxglove status messages waiting for the link: the oldest go first.
constexpr std::size_t max_notices = 16;

std::string json_string(std::string_view s) {
  return value(std::string(s)).dump(-1, ' ', false, value::error_handler_t::replace);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF));
}

// The subprotocols a client offers, in its order.
std::vector<std::string> offered(std::string_view header) {
  std::vector<std::string> out;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return out;
}

} // namespace

class ws_session;

class server::impl {
public:
  impl(model& m, server_options o);
  ~impl();

  void notify() noexcept;
  void pump_all();
  [[nodiscard]] std::size_t clients() const noexcept {
    return static_cast<std::size_t>(ticket_.use_count() - 1);
  }
  [[nodiscard]] std::shared_ptr<const int> ticket() const { return ticket_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  void add(const std::shared_ptr<ws_session>& s) { sessions_.push_back(s); }

  model& m;
  const server_options o;

private:
  void accept();
  void tick();

  // Declared before the io_context, so that the sessions its handlers
  // still hold can count themselves out while it is destroyed.
  std::shared_ptr<const int> ticket_ = std::make_shared<int>(0);
  std::vector<std::weak_ptr<ws_session>> sessions_;

public:
  net::io_context ioc{1};

private:
  tcp::acceptor acceptor_{ioc};
  net::steady_timer tick_{ioc};
  std::uint16_t port_ = 0;
  std::atomic<bool> notify_pending_{false};
  std::thread thread_;
};

// --- WebSocket sessions ---------------------------------------------------------------
//
// A session has at most one message in flight; when it is written, the
// session asks its protocol what is due now. Nothing queues behind a slow
// client: what it has not taken yet is replaced by newer values and frames.

class ws_session : public std::enable_shared_from_this<ws_session> {
public:
  ws_session(server::impl& s, beast::tcp_stream&& stream, std::size_t max_message)
      : server_(s), ticket_(s.ticket()), ws_(std::move(stream)), write_timer_(ws_.get_executor()) {
    ws_.read_message_max(max_message);
  }
  virtual ~ws_session() = default;
  ws_session(const ws_session&) = delete;
  ws_session& operator=(const ws_session&) = delete;

  void start(const http::request<http::string_body>& req, std::string_view subprotocol) {
    beast::get_lowest_layer(ws_).expires_never(); // the WebSocket's own timeouts from here
    websocket::stream_base::timeout t{};
    t.handshake_timeout = server_.o.handshake_timeout;
    // A ping when the client has been silent half this long; cut off when
    // it stays silent the whole of it.
    t.idle_timeout = std::chrono::seconds(30);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [proto = std::string(subprotocol)](websocket::response_type& res) {
          res.set(http::field::server, "socketengine view");
          res.set(http::field::sec_websocket_protocol, proto);
        }));
    ws_.async_accept(req, [self = shared_from_this()](error_code ec) {
      if (ec) return;
      self->open_ = true;
      self->opened();
      self->read();
      self->pump();
    });
  }

  // Sends what is due, unless a message is in flight.
  void pump() {
    if (!open_ || writing_ || closing_) return;
    auto m = next(clock::now());
    if (!m) return;
    out_ = std::move(*m);
    writing_ = true;
    ws_.binary(out_.binary);
    const auto id = ++write_id_;
    write_timer_.expires_after(server_.o.write_timeout);
    write_timer_.async_wait([weak = weak_from_this(), id](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->writing_ || self->write_id_ != id) return;
      // The client has taken nothing for the whole timeout: it is not
      // reading. Cut it off; the pending write ends with an error.
      error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
    std::array<net::const_buffer, 2> buffers{net::buffer(out_.head), out_.body};
    ws_.async_write(buffers, [self = shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->write_timer_.cancel();
      self->out_ = {};
      if (ec) {
        self->open_ = false;
        return;
      }
      if (self->close_reason_) {
        self->close_now();
        return;
      }
      self->pump();
    });
  }

protected:
  struct message {
    bool binary = false;
    std::string head;
    net::const_buffer body;           // after head; kept alive by keep
    std::shared_ptr<const void> keep;
  };
  static message text(std::string s) { return {false, std::move(s), {}, {}}; }

  virtual void opened() {}
  /// The next message to send, or none. Called on the server's thread
  /// whenever the link is free and something may have changed.
  virtual std::optional<message> next(clock::time_point now) = 0;
  /// A message from the client. May call fail().
  virtual void received(std::string_view data, bool binary) = 0;

  /// Closes the WebSocket with `code` and `why`, once the message in flight
  /// is written. Reads stop at once.
  void fail(websocket::close_code code, std::string why) {
    if (closing_) return;
    closing_ = true;
    close_reason_ = websocket::close_reason(code, why);
    if (!writing_) close_now();
  }

  server::impl& server_;

private:
  void read() {
    ws_.async_read(in_, [self = shared_from_this()](error_code ec, std::size_t) {
      // Errors, oversized messages included, end the session: Beast has
      // already sent the close frame that says why.
      if (ec) {
        self->open_ = false;
        return;
      }
      auto data = self->in_.cdata();
      self->received(std::string_view(static_cast<const char*>(data.data()), data.size()),
                     !self->ws_.got_text());
      self->in_.consume(self->in_.size());
      if (self->closing_) return;
      self->read();
      self->pump();
    });
  }

  void close_now() {
    open_ = false;
    ws_.async_close(*close_reason_, [self = shared_from_this()](error_code) {});
  }

  std::shared_ptr<const int> ticket_; // counts this client while it lives
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer in_;
  net::steady_timer write_timer_;
  message out_;
  std::uint64_t write_id_ = 0;
  bool open_ = false, writing_ = false, closing_ = false;
  std::optional<websocket::close_reason> close_reason_;
};

// --- the page's protocol ------------------------------------------------------------------

class page_session final : public ws_session {
public:
  using ws_session::ws_session;

private:
  std::optional<message> next(clock::time_point now) override {
    if (auto f = frame_due()) return f;
    // A frame the page will ask for next is encoded now, while the page
    // still decodes the one before, rather than when it asks.
    for (const auto& s : streams_)
      if (s.awaiting) (void)server_.m.frame_after(s.id, s.sent_seq);
    const auto version = server_.m.version();
    const bool values_due = version != seen_version_ && now - last_state_ >= state_interval;
    const bool rates_due = now - last_rates_ >= rates_interval;
    if (!values_due && !rates_due) return std::nullopt;
    return text(state(version, rates_due, now));
  }

  // A frame for a stream whose last frame the page has acknowledged, the
  // streams taken in turn.
  std::optional<message> frame_due() {
    for (std::size_t k = 0; k < streams_.size(); ++k) {
      auto& s = streams_[(next_stream_ + k) % streams_.size()];
      if (s.awaiting) continue;
      auto f = server_.m.frame_after(s.id, s.sent_seq);
      if (!f) continue;
      next_stream_ = (next_stream_ + k + 1) % streams_.size();
      s.sent_seq = f->seq;
      s.awaiting = true;
      // The frame's header: what the page needs to draw and date it.
      std::string head = "SEV1";
      put_le<std::uint32_t>(head, f->stream);
      put_le<std::uint64_t>(head, f->seq);
      put_le<std::int64_t>(head, f->received_ns);
      put_le<std::uint32_t>(head, f->width);
      put_le<std::uint32_t>(head, f->height);
      put_le<std::uint32_t>(head, f->format == frame_format::jpeg ? 1 : 2);
      return message{true, std::move(head), net::buffer(f->bytes), f};
    }
    return std::nullopt;
  }

  std::string state(std::uint64_t version, bool with_rates, clock::time_point now) {
    std::string s;
    auto out = std::back_inserter(s);
    fmt::format_to(out, R"({{"type":"state","now_ms":{},"topics":[)", now_ms());
    bool first = true;
    for (const auto& t : server_.m.topics_after(topics_known_)) {
      fmt::format_to(out, R"({}{{"id":{},"peer":{},"channel":{},"image":{}}})", first ? "" : ",",
                     t.id, json_string(t.peer), json_string(t.channel), t.is_image);
      first = false;
      topics_known_ = t.id;
      if (t.is_image) streams_.push_back({t.id});
    }
    s += R"(],"values":[)";
    first = true;
    for (const auto& [t, v] : server_.m.values_since(seen_version_)) {
      fmt::format_to(out, R"({}{{"id":{},"received_ms":{},"value":{}}})", first ? "" : ",", t.id,
                     v.received_ns / 1'000'000, v.json);
      first = false;
    }
    s += R"(],"peers":[)";
    first = true;
    for (const auto& [name, open] : server_.m.peers()) {
      fmt::format_to(out, R"({}{{"name":{},"open":{}}})", first ? "" : ",", json_string(name), open);
      first = false;
    }
    s += "]";
    if (with_rates) {
      s += R"(,"rates":[)";
      first = true;
      for (const auto& r : server_.m.all_rates()) {
        fmt::format_to(out,
                       R"({}{{"id":{},"per_second":{:.2f},"bytes_per_second":{:.0f},)"
                       R"("age_s":{:.3f},"size":{},"total":{},"width":{},"height":{}}})",
                       first ? "" : ",", r.id, r.per_second, r.bytes_per_second, r.age_seconds,
                       r.last_size, r.total, r.width, r.height);
        first = false;
      }
      s += "]";
      last_rates_ = now;
    }
    s += "}";
    seen_version_ = version;
    last_state_ = now;
    return s;
  }

  // The page acknowledges each frame once it is drawn: {"ack":ID,"seq":N}.
  // Until then that stream sends nothing more, so a slow page gets fewer,
  // newer frames instead of a queue of old ones.
  void received(std::string_view data, bool binary) override {
    auto m = binary ? value() : value::parse(data, nullptr, false);
    if (!m.is_object() || !m.contains("ack") || !m["ack"].is_number_unsigned() ||
        !m.contains("seq") || !m["seq"].is_number_unsigned()) {
      fail(websocket::close_code::policy_error, R"(expected {"ack":STREAM,"seq":N})");
      return;
    }
    const auto id = m["ack"].get<std::uint64_t>();
    const auto seq = m["seq"].get<std::uint64_t>();
    for (auto& s : streams_)
      if (s.id == id && s.sent_seq == seq) s.awaiting = false;
  }

  struct stream {
    std::uint32_t id = 0;
    std::uint64_t sent_seq = 0;
    bool awaiting = false; // a frame is with the page, not yet acknowledged
  };
  std::vector<stream> streams_;
  std::size_t next_stream_ = 0;
  std::uint32_t topics_known_ = 0;
  std::uint64_t seen_version_ = 0; // so the first state has every value
  clock::time_point last_state_{}, last_rates_{};
};

// --- Foxglove's protocol ------------------------------------------------------------------
//
// foxglove.websocket.v1 (github.com/foxglove/ws-protocol, docs/spec.md): the
// server advertises channels, the client subscribes, messages go as binary
// messageData. Values travel as JSON {"value": V}; frames as
// foxglove.CompressedImage in JSON, whose bytes JSON can carry only as
// base64 (what Foxglove's JSON encoding defines for bytes fields).

constexpr std::string_view value_schema =
    R"({"type":"object","title":"socketengine.Value",)"
    R"("description":"The latest value written to a socketengine channel",)"
    R"("properties":{"value":{"description":"Any JSON value"}}})";

constexpr std::string_view compressed_image_schema =
    R"({"type":"object","title":"foxglove.CompressedImage","description":"A compressed image",)"
    R"("properties":{"timestamp":{"type":"object","title":"time","properties":{)"
    R"("sec":{"type":"integer","minimum":0},)"
    R"("nsec":{"type":"integer","minimum":0,"maximum":999999999}}},)"
    R"("frame_id":{"type":"string"},)"
    R"("data":{"type":"string","contentEncoding":"base64"},)"
    R"("format":{"type":"string"}}})";

class foxglove_session final : public ws_session {
public:
  using ws_session::ws_session;

private:
  struct subscription {
    std::uint32_t channel = 0;
    bool is_image = false;
    std::string peer;
    std::uint64_t sent_seq = 0;
  };

  void opened() override {
    value info{{"op", "serverInfo"},
               {"name", "socketengine"},
               {"capabilities", value::array()},
               {"metadata", value::object()},
               {"sessionId", std::to_string(now_ms())}};
    notices_.push_back(info.dump());
  }

  std::optional<message> next(clock::time_point) override {
    if (!notices_.empty()) {
      auto m = text(std::move(notices_.front()));
      notices_.erase(notices_.begin());
      return m;
    }
    // The spec wants an advertise for every new client, even an empty one.
    if (auto topics = server_.m.topics_after(advertised_); !topics.empty() || !greeted_) {
      greeted_ = true;
      value channels = value::array();
      for (const auto& t : topics) {
        channels.push_back({{"id", t.id},
                            {"topic", "/" + t.peer + "/" + t.channel},
                            {"encoding", "json"},
                            {"schemaName", t.is_image ? "foxglove.CompressedImage"
                                                      : "socketengine.Value"},
                            {"schema", t.is_image ? compressed_image_schema : value_schema},
                            {"schemaEncoding", "jsonschema"}});
        advertised_ = t.id;
      }
      return text(value{{"op", "advertise"}, {"channels", std::move(channels)}}.dump(
          -1, ' ', false, value::error_handler_t::replace));
    }
    // The subscriptions in turn, from the one after the last served.
    auto it = subs_.upper_bound(last_sub_);
    for (std::size_t k = 0; k < subs_.size(); ++k, ++it) {
      if (it == subs_.end()) it = subs_.begin();
      auto& sub = it->second;
      last_sub_ = it->first;
      if (auto m = message_for(it->first, sub)) return m;
    }
    return std::nullopt;
  }

  std::optional<message> message_for(std::uint32_t sub_id, subscription& sub) {
    std::string payload;
    std::int64_t stamp = 0;
    if (sub.is_image) {
      auto f = server_.m.frame_after(sub.channel, sub.sent_seq);
      if (!f) return std::nullopt;
      sub.sent_seq = f->seq;
      stamp = f->received_ns;
      std::string data(detail::legacy::base64::encoded_size(f->bytes.size()), '\0');
      detail::legacy::base64::encode(
          {reinterpret_cast<const std::uint8_t*>(f->bytes.data()), f->bytes.size()}, data.data());
      payload = fmt::format(
          R"({{"timestamp":{{"sec":{},"nsec":{}}},"frame_id":{},"data":"{}","format":"{}"}})",
          stamp / 1'000'000'000, stamp % 1'000'000'000, json_string(sub.peer), data,
          f->format == frame_format::jpeg ? "jpeg" : "png");
    } else {
      auto v = server_.m.value_after(sub.channel, sub.sent_seq);
      if (!v) return std::nullopt;
      sub.sent_seq = v->seq;
      stamp = v->received_ns;
      payload = R"({"value":)" + v->json + "}";
    }
    std::string head;
    head.reserve(13 + payload.size());
    head.push_back(1); // messageData
    put_le<std::uint32_t>(head, sub_id);
    put_le<std::uint64_t>(head, static_cast<std::uint64_t>(stamp));
    head += payload;
    return message{true, std::move(head), {}, {}};
  }

  void received(std::string_view data, bool binary) override {
    if (binary) {
      // Client publishing is a capability this server does not announce.
      fail(websocket::close_code::policy_error, "this server takes no client messages");
      return;
    }
    auto m = value::parse(data, nullptr, false);
    if (!m.is_object() || !m.contains("op") || !m["op"].is_string()) {
      fail(websocket::close_code::policy_error, R"(expected a JSON object with "op")");
      return;
    }
    const auto op = m["op"].get<std::string>();
    if (op == "subscribe" && m.contains("subscriptions") && m["subscriptions"].is_array()) {
      for (const auto& s : m["subscriptions"]) subscribe(s);
    } else if (op == "unsubscribe" && m.contains("subscriptionIds") &&
               m["subscriptionIds"].is_array()) {
      for (const auto& id : m["subscriptionIds"])
        if (id.is_number_unsigned() && id.get<std::uint64_t>() <= UINT32_MAX)
          subs_.erase(id.get<std::uint32_t>());
    } else {
      notice(1, "unsupported operation \"" + op + "\"");
    }
  }

  void subscribe(const value& s) {
    if (!s.is_object() || !s.contains("id") || !s["id"].is_number_unsigned() ||
        !s.contains("channelId") || !s["channelId"].is_number_unsigned()) {
      notice(2, "a subscription needs an id and a channelId");
      return;
    }
    const auto id = s["id"].get<std::uint64_t>();
    const auto channel = s["channelId"].get<std::uint64_t>();
    if (id > UINT32_MAX || channel == 0 || channel > advertised_) {
      notice(2, fmt::format("no channel {} to subscribe to", channel));
      return;
    }
    if (subs_.count(static_cast<std::uint32_t>(id))) {
      notice(2, fmt::format("subscription {} exists already", id));
      return;
    }
    // One subscription per channel: what a client holds is bounded by the
    // topics, however many subscribe messages it sends.
    for (const auto& [other, sub] : subs_) {
      if (sub.channel == channel) {
        notice(2, fmt::format("channel {} is subscribed to already (subscription {})", channel,
                              other));
        return;
      }
    }
    const auto t = server_.m.topic_of(static_cast<std::uint32_t>(channel));
    subs_[static_cast<std::uint32_t>(id)] = {t->id, t->is_image, t->peer, 0};
  }

  // level: 0 info, 1 warning, 2 error.
  void notice(int level, const std::string& text) {
    if (notices_.size() >= max_notices) notices_.erase(notices_.begin());
    notices_.push_back(value{{"op", "status"}, {"level", level}, {"message", text}}.dump(
        -1, ' ', false, value::error_handler_t::replace));
  }

  std::map<std::uint32_t, subscription> subs_;
  std::uint32_t last_sub_ = 0;
  std::uint32_t advertised_ = 0;
  bool greeted_ = false; // the first advertise has gone
  std::vector<std::string> notices_;
};

// --- HTTP -----------------------------------------------------------------------------------

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(server::impl& s, tcp::socket socket)
      : server_(s), ticket_(s.ticket()), stream_(std::move(socket)) {}

  void read() {
    parser_.emplace();
    parser_->header_limit(max_request_header);
    parser_->body_limit(max_request_body);
    stream_.expires_after(server_.o.handshake_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

private:
  void on_read(error_code ec) {
    // Garbage, a request too big or too slow: the connection goes, unanswered.
    if (ec) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    auto req = parser_->release();
    if (websocket::is_upgrade(req)) {
      upgrade(req);
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->keep_alive(req.keep_alive());
    res->set(http::field::server, "socketengine view");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
    } else if (req.target() == "/" || req.target() == "/index.html") {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/html; charset=utf-8");
      res->set(http::field::cache_control, "no-store");
      res->body() = page_html;
    } else {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain");
      res->body() = "not found: the viewer is at /\n";
    }
    res->prepare_payload();
    if (req.method() == http::verb::head) res->body().clear();
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) {
        error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        return;
      }
      self->read();
    });
  }

  void upgrade(const http::request<http::string_body>& req) {
    std::shared_ptr<ws_session> session;
    std::string_view chosen;
    const auto header = req[http::field::sec_websocket_protocol];
    for (const auto& p : offered({header.data(), header.size()})) {
      if (p == foxglove_subprotocol) {
        session = std::make_shared<foxglove_session>(server_, std::move(stream_),
                                                     max_foxglove_message);
        chosen = foxglove_subprotocol;
        break;
      }
      if (p == page_subprotocol) {
        session = std::make_shared<page_session>(server_, std::move(stream_), max_page_message);
        chosen = page_subprotocol;
        break;
      }
    }
    if (!session) {
      auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request,
                                                                     req.version());
      res->set(http::field::content_type, "text/plain");
      res->body() = fmt::format("offer the WebSocket subprotocol {} or {}\n", page_subprotocol,
                                foxglove_subprotocol);
      res->keep_alive(false);
      res->prepare_payload();
      http::async_write(stream_, *res, [self = shared_from_this(), res](error_code, std::size_t) {
        error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
      return;
    }
    server_.add(session);
    session->start(req, chosen);
  }

  server::impl& server_;
  std::shared_ptr<const int> ticket_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

// --- the server -------------------------------------------------------------------------------

namespace {

// The kernel's send buffer grows to megabytes on a fast link, and a
// Foxglove client acknowledges nothing: without a bound, seconds of frames
// could wait there unsent, stale when they arrive, and a client that stops
// reading would go unnoticed until they were all queued. Past this many
// unsent bytes the socket stops taking writes, so the one message in flight
// waits (and the write timeout can see it) while data already sent is not
// limited: throughput over a long link is unchanged. Asio has no named
// option for it.
void limit_unsent(tcp::socket& socket) {
  int bytes = 128 * 1024;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes);
}

} // namespace

server::impl::impl(model& model, server_options options) : m(model), o(std::move(options)) {
  tcp::endpoint at(net::ip::make_address(o.bind), o.port);
  acceptor_.open(at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  accept();
  tick();
  thread_ = std::thread([this] { ioc.run(); });
}

server::impl::~impl() {
  ioc.stop();
  if (thread_.joinable()) thread_.join();
}

void server::impl::accept() {
  acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      // Past the limit a client is closed at once: each holds buffers, and
      // the peers' values must not wait on a crowd of browsers.
      if (clients() < o.max_clients) {
        // Without it, the tail of a frame waits for the browser's delayed
        // ACK (up to 40 ms) before it leaves.
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        limit_unsent(socket);
        std::make_shared<http_session>(*this, std::move(socket))->read();
      } else {
        error_code ignored;
        socket.close(ignored);
      }
    }
    accept();
  });
}

void server::impl::tick() {
  tick_.expires_after(tick_interval);
  tick_.async_wait([this](error_code ec) {
    if (ec) return;
    pump_all();
    tick();
  });
}

void server::impl::pump_all() {
  std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
  // A copy: a session's pump may add none, but may end one.
  auto live = sessions_;
  for (const auto& w : live)
    if (auto s = w.lock()) s->pump();
}

void server::impl::notify() noexcept {
  // One pass of the server's thread however many changes came meanwhile.
  if (notify_pending_.exchange(true)) return;
  net::post(ioc, [this] {
    notify_pending_ = false;
    pump_all();
  });
}

server::server(model& m, server_options o) {
  try {
    impl_ = std::make_unique<impl>(m, std::move(o));
  } catch (const boost::system::system_error& e) {
    // As the header promises: callers need not know Boost.
    throw std::system_error(static_cast<std::error_code>(e.code()), "cannot listen");
  }
}
server::~server() = default;

std::uint16_t server::port() const noexcept {
  return impl_->port();
}

void server::notify() noexcept { impl_->notify(); }

} // namespace socketengine::cli::viewer
