// Interop against the published Node.js socket.engine 0.3.0 package: hubs
// dialling each other in both directions, closing from either side, and
// host/client pairs with either side in Node. Each test drives one or two
// Node processes (the *.js scripts next to this file) over their stdin and
// stdout, and talks to them over 127.0.0.1 on ports the OS chose.

#include <gtest/gtest.h>

#include <socketengine/socketengine.hpp>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "support/child_process.hpp"
#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using socketengine::value;
using socketengine::test::child_process;
using socketengine::test::base64_of;
using socketengine::test::eventually;
using socketengine::test::pattern_image;
using socketengine::test::patience;
using socketengine::test::png_of;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace fs = std::filesystem;
const fs::path node_executable = SOCKETENGINE_NODE_EXECUTABLE;
const fs::path node_modules = fs::path(SOCKETENGINE_NODE_PEER_DIR) / "node_modules";
const fs::path scripts_dir = SOCKETENGINE_INTEROP_SCRIPTS_DIR;

// Non-ASCII both inside and outside the Basic Multilingual Plane: the C++
// side escapes them (a surrogate pair for the emoji), Node sends raw UTF-8.
const std::string cafe = "caf\xC3\xA9";
const std::string cafe_and_more = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";

using matcher = std::function<bool(const value&)>;

/// Matches an event payload holding at least `pattern`'s keys with equal
/// values (or equal to `pattern` outright when it is not an object).
matcher has(value pattern) {
  return [pattern = std::move(pattern)](const value& payload) {
    if (!pattern.is_object()) return payload == pattern;
    if (!payload.is_object()) return false;
    for (const auto& [key, expected] : pattern.items())
      if (!payload.contains(key) || payload.at(key) != expected) return false;
    return true;
  };
}

bool anything(const value&) { return true; }

/// One Node process running a peer script, with its stdin and stdout on
/// pipes. Killed when it goes out of scope, so a failing test never leaves a
/// Node process (and its listening socket) behind.
class node_peer {
public:
  explicit node_peer(const std::string& script, const std::vector<std::string>& args = {})
      // The scripts `require('socket.engine')`; NODE_PATH points Node at the
      // copy installed for this build, whatever the working directory.
      : child_(command(script, args),
               {.env = {"NODE_PATH=" + node_modules.string()}, .stdin_pipe = true}) {}

  ~node_peer() {
    child_.kill();
    if (::testing::Test::HasFailure())
      std::fprintf(stderr, "--- output of node %s ---\n%s--- end ---\n", name_.c_str(),
                   transcript_.c_str());
  }

  node_peer(const node_peer&) = delete;
  node_peer& operator=(const node_peer&) = delete;

  /// Names this peer in the transcript printed on failure.
  void set_name(std::string name) { name_ = std::move(name); }

  /// Sends the command `verb`, with `payload` as JSON unless it is null.
  /// Returns false if the peer is gone.
  bool send(std::string_view verb, const value& payload = nullptr) {
    std::string line(verb);
    if (!payload.is_null()) line += ' ' + payload.dump();
    line += '\n';
    transcript_ += "> " + line;
    return child_.write_stdin(line);
  }

  /// The payload of the first event `tag` that `match` accepts, taken from
  /// the events not yet taken (so an event that arrived early is still
  /// found); empty if `timeout` passes or the peer exits first.
  std::optional<value> expect(std::string_view tag, const matcher& match = anything,
                              milliseconds timeout = patience) {
    auto deadline = steady_clock::now() + timeout;
    for (std::size_t i = 0;; ++i) {
      while (i == events_.size())
        if (!read_more(deadline)) return std::nullopt;
      if (events_[i].first == tag && match(events_[i].second)) {
        value payload = std::move(events_[i].second);
        events_.erase(events_.begin() + static_cast<std::ptrdiff_t>(i));
        return payload;
      }
    }
  }

  /// Sends EXIT and waits for the peer to end; its exit status, or -1 if it
  /// did not end in time or died by a signal.
  int quit(milliseconds timeout = patience) {
    send("EXIT");
    auto deadline = steady_clock::now() + timeout;
    // EOF on its stdout means the process has gone, so the wait below
    // cannot take long.
    while (read_more(deadline)) {
    }
    return child_.wait_exit(deadline);
  }

private:
  static std::vector<std::string> command(const std::string& script,
                                          const std::vector<std::string>& args) {
    std::vector<std::string> argv{node_executable.string(), (scripts_dir / script).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Reads what the peer wrote, waiting up to `deadline`, and queues each
  // complete line as an event. False on timeout or EOF.
  bool read_more(steady_clock::time_point deadline) {
    for (;;) {
      if (child_.read_some(buffer_, deadline) != child_process::read_result::data) return false;
      bool queued = false;
      for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        transcript_ += "< " + line + '\n';
        auto space = line.find(' ');
        value payload;
        if (space != std::string::npos) {
          payload = value::parse(line.substr(space + 1), nullptr, /*allow_exceptions=*/false);
          if (payload.is_discarded()) payload = line.substr(space + 1);
        }
        // A command the script could not carry out is a broken test, whatever
        // the test goes on to wait for.
        if (line.substr(0, space) == "ERROR") ADD_FAILURE() << "node " << name_ << ": " << line;
        events_.emplace_back(line.substr(0, space), std::move(payload));
        queued = true;
      }
      if (queued) return true;
    }
  }

  child_process child_;
  std::string buffer_;
  std::deque<std::pair<std::string, value>> events_;
  std::string transcript_;
  std::string name_ = "peer";
};

/// Waits for the first call of the callback made by callback(); for the
/// engine's on_disconnect and friends, which run on another thread and may
/// run again later (when the engine closes at the end of the test).
class first_call {
public:
  std::function<void(const std::shared_ptr<socketengine::connection>&)> callback() {
    return [this](const std::shared_ptr<socketengine::connection>& c) {
      std::call_once(once_, [&] { promise_.set_value(c); });
    };
  }

  std::shared_ptr<socketengine::connection> wait(milliseconds timeout = patience) {
    if (future_.wait_for(timeout) != std::future_status::ready) return nullptr;
    return future_.get();
  }

private:
  std::once_flag once_;
  std::promise<std::shared_ptr<socketengine::connection>> promise_;
  std::future<std::shared_ptr<socketengine::connection>> future_ = promise_.get_future();
};

class NodeInterop : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(node_modules / "socket.engine" / "package.json"))
        << "the Node peer is not installed in " << node_modules
        << "; build the node_peer target (it runs scripts/setup-node-peer.sh)";
  }

  static std::uint16_t ready_port(node_peer& peer) {
    auto ready = peer.expect("READY");
    if (!ready || !ready->is_number_unsigned()) return 0;
    return ready->get<std::uint16_t>();
  }

  static value write_cmd(std::string_view channel, value data) {
    return {{"channel", channel}, {"data", std::move(data)}};
  }
  static value got(std::string_view channel, value data) {
    return write_cmd(channel, std::move(data));
  }
  static value got_from(std::string_view name, std::string_view channel, value data) {
    return {{"name", name}, {"channel", channel}, {"data", std::move(data)}};
  }
};

// --- hubs ---------------------------------------------------------------------

TEST_F(NodeInterop, CppHubDialsNodeHub) {
  node_peer node("node_hub.js", {"listen"});
  auto port = ready_port(node);
  ASSERT_NE(port, 0);

  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  auto c = h.connect("cam", "127.0.0.1", port);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind(), socketengine::connection_kind::local);
  EXPECT_EQ(c->name(), "cam");

  // The Node hub lists us as a remote peer and takes its name from
  // `__name_conn`, our first line.
  ASSERT_TRUE(node.expect("CONNECTION", has({{"type", 2}})));
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "__name_conn", "cam"))));

  // C++ -> Node, including text Node must unescape.
  c->write("speed", "3.5");
  c->write(cafe, cafe_and_more);
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "speed", "3.5"))));
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", cafe, cafe_and_more))));
  // Latest value wins on the Node side too.
  c->write("speed", "4.0");
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "speed", "4.0"))));
  node.send("GET_ALL", "speed");
  auto speeds = node.expect("ALL", has({{"channel", "speed"}}));
  ASSERT_TRUE(speeds);
  EXPECT_EQ(speeds->at("values"), value::array({"4.0"}));
  node.send("GET_ALL", cafe);
  auto cafes = node.expect("ALL", has({{"channel", cafe}}));
  ASSERT_TRUE(cafes);
  EXPECT_EQ(cafes->at("values"), value::array({cafe_and_more}));
  node.send("STATE");
  auto state = node.expect("STATE");
  ASSERT_TRUE(state);
  ASSERT_EQ(state->at("connections").size(), 1u);
  EXPECT_EQ(state->at("connections")[0].at("name"), "cam");

  // Node -> C++: Node sends raw UTF-8. Two values on one channel then a
  // marker; TCP keeps order, so once the marker is in the first value has
  // been replaced.
  node.send("WRITE", write_cmd("reply", "one"));
  node.send("WRITE", write_cmd("reply", "two"));
  node.send("WRITE", write_cmd(cafe, cafe_and_more));
  node.send("WRITE", write_cmd("sync", "done"));
  auto sync = c->wait_for("sync", patience);
  ASSERT_TRUE(sync);
  EXPECT_EQ(*sync, value("done"));
  EXPECT_EQ(c->get("reply"), std::optional<value>("two"));
  EXPECT_EQ(c->get(cafe), std::optional<value>(cafe_and_more));
  EXPECT_EQ(h.get_all(cafe), std::vector<value>{cafe_and_more});
  EXPECT_EQ(h.get_by_name("cam", "reply"), std::vector<value>{"two"});
  EXPECT_EQ(h.get_local("reply"), std::vector<value>{"two"});
  EXPECT_TRUE(h.get_remote("reply").empty());
  EXPECT_EQ(c->stats().errors, 0u) << "a line from Node did not parse";

  // Closing one dialled connection tells Node with `__status`/`__closing`.
  c->close();
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->close_reason(), socketengine::errc::closed_locally);
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "__status", "__closing"))));
  ASSERT_TRUE(node.expect("CLOSED", has({{"name", "cam"}, {"stopped", true}})));

  EXPECT_EQ(node.quit(), 0);
}

TEST_F(NodeInterop, NodeHubDialsCppHub) {
  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  node_peer node("node_hub.js", {"dial", "cam", std::to_string(h.port())});
  ASSERT_NE(ready_port(node), 0);

  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind(), socketengine::connection_kind::remote);
  auto name = c->wait_for("__name_conn", patience);
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, value("cam"));
  EXPECT_EQ(c->name(), "cam");
  ASSERT_TRUE(node.expect("CONNECTED"));

  // Node -> C++.
  node.send("WRITE", write_cmd("speed", "3.5"));
  node.send("WRITE", write_cmd(cafe, cafe_and_more));
  auto speeds = h.wait_for("speed", patience);
  EXPECT_EQ(speeds, std::vector<value>{"3.5"});
  auto cafes = h.wait_for(cafe, patience);
  EXPECT_EQ(cafes, std::vector<value>{cafe_and_more});
  EXPECT_EQ(h.get_remote("speed"), std::vector<value>{"3.5"});
  EXPECT_EQ(h.get_by_name("cam", "speed"), std::vector<value>{"3.5"});
  EXPECT_TRUE(h.get_local("speed").empty());

  // C++ -> Node, addressed by the name Node gave itself.
  EXPECT_EQ(h.write_to_name("cam", "cmd", "go"), 1u);
  EXPECT_EQ(h.write_to_remote(cafe, cafe_and_more), 1u);
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "cmd", "go"))));
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", cafe, cafe_and_more))));
  node.send("GET_ALL", "cmd");
  auto cmds = node.expect("ALL", has({{"channel", "cmd"}}));
  ASSERT_TRUE(cmds);
  EXPECT_EQ(cmds->at("values"), value::array({"go"}));
  EXPECT_EQ(c->stats().errors, 0u) << "a line from Node did not parse";

  EXPECT_EQ(node.quit(), 0);
}

TEST_F(NodeInterop, ImagesBothWaysWithANodeHub) {
  node_peer node("node_hub.js", {"listen"});
  auto port = ready_port(node);
  ASSERT_NE(port, 0);
  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  auto c = h.connect("cam", "127.0.0.1", port);
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "__name_conn", "cam"))));

  // C++ -> Node. The Node hub acknowledges each image (it fails to store
  // it: its hub.js misspells the import of decodeImg), so the next one can
  // go. It may acknowledge an image more than once, since it re-reads its
  // whole buffer on every read: an extra __ack must do no harm.
  for (unsigned i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually([&] { return c->can_write_image(); })) << "no __ack for image " << i;
    EXPECT_EQ(c->write_image(pattern_image(64, 48, socketengine::pixel_order::bgr, i)),
              socketengine::image_status::sent);
  }
  ASSERT_TRUE(eventually([&] { return c->can_write_image(); }));

  // Node -> C++: Node's writeImg sends the base64 as given; the engine
  // decodes it and acknowledges, which sets Node's canWrite again.
  auto first = pattern_image(17, 9, socketengine::pixel_order::bgra, 1);
  node.send("WRITE_IMG", base64_of(png_of(first)));
  auto got_first = c->wait_for_image(patience);
  ASSERT_TRUE(got_first);
  EXPECT_EQ(*got_first, first);
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "__ack", "__ack"))));
  auto second = pattern_image(17, 9, socketengine::pixel_order::gray, 2);
  auto before = c->image_version();
  node.send("WRITE_IMG", base64_of(png_of(second)));
  auto got_second = c->wait_for_next_image(patience, before);
  ASSERT_TRUE(got_second) << "Node did not send its second image: no __ack reached it";
  EXPECT_EQ(*got_second, second);
  EXPECT_EQ(c->stats().errors, 0u);

  EXPECT_EQ(node.quit(), 0);
}

TEST_F(NodeInterop, NodeHubCloseEndsCppConnection) {
  // Declared before the hub, which may still call it while closing.
  first_call disconnected;
  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  h.on_disconnect(disconnected.callback());
  node_peer node("node_hub.js", {"dial", "cam", std::to_string(h.port())});

  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->wait_for("__name_conn", patience));
  // Only close once Node is connected: before that its close() would drop
  // the `__status` line it buffered.
  ASSERT_TRUE(node.expect("CONNECTED"));

  node.send("CLOSE");
  ASSERT_TRUE(node.expect("CLOSED_HUB"));
  auto gone = disconnected.wait();
  ASSERT_TRUE(gone) << "the C++ hub did not see the connection end";
  EXPECT_EQ(gone, c);
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->close_reason(), socketengine::errc::peer_closing);
  EXPECT_EQ(c->get("__status"), std::optional<value>("__closing"));
  EXPECT_EQ(c->name(), "cam");

  std::error_code ec;
  c->write("late", "x", ec);
  EXPECT_EQ(ec, socketengine::errc::not_connected);

  EXPECT_EQ(node.quit(), 0);
}

TEST_F(NodeInterop, CppHubRedialsARestartedNodeHub) {
  auto node = std::make_unique<node_peer>("node_hub.js", std::vector<std::string>{"listen"});
  auto port = ready_port(*node);
  ASSERT_NE(port, 0);
  socketengine::hub h(
      {.listen = false, .reconnect = {.min_backoff = 10ms, .max_backoff = 200ms}});
  auto c = h.connect("cam", "127.0.0.1", port);
  ASSERT_TRUE(node->expect("GOT", has(got_from("cam", "__name_conn", "cam"))));
  node->send("WRITE", write_cmd("speed", "1"));
  ASSERT_TRUE(c->wait_for("speed", patience));

  node.reset(); // killed, as a crash would, and reaped: nothing listens now
  ASSERT_TRUE(eventually([&] { return c->state() == socketengine::link_state::reconnecting; }));
  c->write("speed", "2"); // held for the next link
  node = std::make_unique<node_peer>("node_hub.js",
                                     std::vector<std::string>{"listen", std::to_string(port)});
  ASSERT_EQ(ready_port(*node), port);
  // The 0.3 hub hears the name again, then what was written meanwhile.
  ASSERT_TRUE(node->expect("GOT", has(got_from("cam", "__name_conn", "cam"))));
  ASSERT_TRUE(node->expect("GOT", has(got_from("cam", "speed", "2"))));
  EXPECT_EQ(c->get("speed"), std::optional<value>("1")); // still the last value it sent
  auto since = c->version("speed");
  node->send("WRITE", write_cmd("speed", "3"));
  EXPECT_EQ(c->wait_for_next("speed", patience, since), std::optional<value>("3"));
  EXPECT_EQ(c->state(), socketengine::link_state::connected);
  EXPECT_FALSE(c->is_native()); // a 0.3 peer, both times
  // A redial that reached the dying process's listener, just before it
  // closed, counts too: that link came up and went at once.
  EXPECT_GE(c->stats().reconnects, 1u);
  EXPECT_EQ(node->quit(), 0);
}

TEST_F(NodeInterop, CppHubCloseEndsNodeConnection) {
  socketengine::hub h({.port = 0, .bind_address = "127.0.0.1"});
  node_peer node("node_hub.js", {"dial", "cam", std::to_string(h.port())});

  auto c = h.wait_for_connection(patience);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->wait_for("__name_conn", patience));
  ASSERT_TRUE(node.expect("CONNECTED"));

  h.close();
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->close_reason(), socketengine::errc::closed_locally);
  // `stopped` shows Node closed the connection because of `__closing`, not
  // merely because the socket reached EOF.
  ASSERT_TRUE(node.expect("GOT", has(got_from("cam", "__status", "__closing"))));
  ASSERT_TRUE(node.expect("CLOSED", has({{"name", "cam"}, {"opened", false}, {"stopped", true}})));
  node.send("STATE");
  auto state = node.expect("STATE");
  ASSERT_TRUE(state);
  ASSERT_EQ(state->at("connections").size(), 1u);
  EXPECT_EQ(state->at("connections")[0].at("opened"), false);

  EXPECT_EQ(node.quit(), 0);
}

// --- host and client ------------------------------------------------------------

TEST_F(NodeInterop, CppClientsOnNodeHost) {
  node_peer node("node_host.js");
  auto port = ready_port(node);
  ASSERT_NE(port, 0);

  socketengine::client first({.address = "127.0.0.1", .port = port});
  // Waiting for Node to list the first client before the second connects
  // fixes the order get_ALL reports them in.
  ASSERT_TRUE(node.expect("CLIENT", has(1)));
  socketengine::client second({.address = "127.0.0.1", .port = port});
  ASSERT_TRUE(node.expect("CLIENT", has(2)));

  // C++ -> Node: host/client values are any JSON, not only strings.
  const value nested = {{"a", {1, 2.5, nullptr}}, {"b", cafe}};
  first.write("speed", 3.5);
  first.write("connected", true);
  first.write("nested", nested);
  first.write(cafe, cafe_and_more);
  second.write("speed", 7);
  ASSERT_TRUE(node.expect("GOT", has({{"client", 0}, {"channel", "speed"}, {"data", 3.5}})));
  ASSERT_TRUE(node.expect("GOT", has({{"client", 0}, {"channel", "connected"}, {"data", true}})));
  ASSERT_TRUE(node.expect("GOT", has({{"client", 0}, {"channel", "nested"}, {"data", nested}})));
  ASSERT_TRUE(node.expect("GOT", has({{"client", 0}, {"channel", cafe}, {"data", cafe_and_more}})));
  ASSERT_TRUE(node.expect("GOT", has({{"client", 1}, {"channel", "speed"}, {"data", 7}})));
  node.send("GET_ALL", "speed");
  auto speeds = node.expect("ALL", has({{"channel", "speed"}}));
  ASSERT_TRUE(speeds);
  EXPECT_EQ(speeds->at("values"), value::array({3.5, 7}));
  node.send("GET_ALL", "connected");
  auto connected = node.expect("ALL", has({{"channel", "connected"}}));
  ASSERT_TRUE(connected);
  EXPECT_EQ(connected->at("values"), value::array({true}));

  // Node -> C++, to both clients.
  node.send("WRITE", write_cmd("cmd", {{"go", true}, {"n", 1}}));
  node.send("WRITE", write_cmd(cafe, cafe_and_more));
  for (auto* cl : {&first, &second}) {
    auto cmd = cl->wait_for("cmd", patience);
    ASSERT_TRUE(cmd);
    EXPECT_EQ(*cmd, value({{"go", true}, {"n", 1}}));
    auto text = cl->wait_for(cafe, patience);
    ASSERT_TRUE(text);
    EXPECT_EQ(*text, value(cafe_and_more));
    EXPECT_EQ(cl->connection()->stats().errors, 0u) << "a line from Node did not parse";
    // Host/client connections carry no hub protocol lines.
    EXPECT_FALSE(cl->get("__name_conn"));
  }

  EXPECT_EQ(node.quit(), 0);
}

TEST_F(NodeInterop, NodeClientsOnCppHost) {
  socketengine::host h({.address = "127.0.0.1", .port = 0});
  h.start();
  const auto port = std::to_string(h.port());

  node_peer one("node_client.js", {port});
  one.set_name("client one");
  ASSERT_TRUE(one.expect("CONNECTED"));
  // Accepted in order, so get_all reports one's values before two's.
  ASSERT_TRUE(h.wait_for_connections(1, patience));
  node_peer two("node_client.js", {port});
  two.set_name("client two");
  ASSERT_TRUE(two.expect("CONNECTED"));
  ASSERT_TRUE(h.wait_for_connections(2, patience));
  auto clients = h.clients();
  ASSERT_EQ(clients.size(), 2u);

  // Node -> C++.
  one.send("WRITE", write_cmd("speed", 3.5));
  one.send("WRITE", write_cmd(cafe, cafe_and_more));
  two.send("WRITE", write_cmd("speed", 7));
  two.send("WRITE", write_cmd("connected", true));
  auto one_speed = clients[0]->wait_for("speed", patience);
  ASSERT_TRUE(one_speed);
  EXPECT_EQ(*one_speed, value(3.5));
  auto two_connected = clients[1]->wait_for("connected", patience);
  ASSERT_TRUE(two_connected);
  EXPECT_EQ(*two_connected, value(true));
  auto one_text = clients[0]->wait_for(cafe, patience);
  ASSERT_TRUE(one_text);
  EXPECT_EQ(*one_text, value(cafe_and_more));
  EXPECT_EQ(h.get_all("speed"), (std::vector<value>{3.5, 7}));
  EXPECT_EQ(h.get_all("connected"), std::vector<value>{true});
  EXPECT_TRUE(h.get_all("nothing").empty());
  for (auto& c : clients) {
    EXPECT_EQ(c->stats().errors, 0u) << "a line from Node did not parse";
    EXPECT_EQ(c->name(), "");
  }

  // C++ -> Node, to both clients.
  const value nested = {{"a", {1, 2.5, nullptr}}, {"b", cafe}};
  EXPECT_EQ(h.write_all("cmd", nested), 2u);
  EXPECT_EQ(h.write_all(cafe, cafe_and_more), 2u);
  for (auto* peer : {&one, &two}) {
    ASSERT_TRUE(peer->expect("GOT", has(got("cmd", nested))));
    ASSERT_TRUE(peer->expect("GOT", has(got(cafe, cafe_and_more))));
    peer->send("GET", "cmd");
    auto cmd = peer->expect("VALUE", has({{"channel", "cmd"}}));
    ASSERT_TRUE(cmd);
    EXPECT_EQ(cmd->at("data"), nested);
  }

  EXPECT_EQ(one.quit(), 0);
  EXPECT_EQ(two.quit(), 0);
}

} // namespace
