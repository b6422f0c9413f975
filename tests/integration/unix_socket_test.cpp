// Unix domain sockets as a transport: hubs, host and client, both
// protocols and images over a socket file, and what becomes of the file
// (stale ones replaced, live ones kept, permissions, removal).

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <socketengine/error.hpp>
#include <socketengine/socketengine.hpp>

#include "support/temp_dir.hpp"
#include "support/test_images.hpp"
#include "support/test_support.hpp"

namespace socketengine {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::pattern_image;
using test::patience;
using test::round_trip;
using test::temp_dir;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::uint32_t mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Leaves a socket file behind as a process that died would: bound, then
// closed without removing the file.
void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  ASSERT_TRUE(exists(path));
}

// A hub listening only on a socket file, and a hub that dialled it.
struct unix_pair {
  unix_pair(const temp_dir& dir, bool native)
      : endpoint(dir.endpoint("hub.sock")),
        listener({.listen = false, .listen_on = {endpoint}, .native = native}),
        dialler({.listen = false, .native = native}) {
    out = dialler.connect("cam", endpoint);
    in = listener.wait_for_connection(patience);
  }
  std::string endpoint;
  hub listener;
  hub dialler;
  std::shared_ptr<connection> out;
  std::shared_ptr<connection> in;
};

TEST(unix_socket, hubs_talk_native_over_a_socket_file) {
  temp_dir dir;
  unix_pair p(dir, /*native=*/true);
  ASSERT_TRUE(p.out && p.in);
  EXPECT_EQ(p.listener.port(), 0u); // no TCP listener
  round_trip(*p.out, *p.in);
  EXPECT_TRUE(p.out->is_native());
  EXPECT_TRUE(p.in->is_native());
  EXPECT_EQ(p.in->name(), "cam");
  EXPECT_EQ(p.in->address(), p.endpoint);
  EXPECT_EQ(p.out->address(), p.endpoint);
  EXPECT_EQ(p.in->port(), 0u);
  EXPECT_EQ(p.in->kind(), connection_kind::remote);
  EXPECT_EQ(p.out->kind(), connection_kind::local);

  for (int i = 0; i < 100; ++i) p.out->write("seq", i);
  p.out->write("obj", value{{"x", 1.5}, {"list", {1, "two"}}});
  const std::uint8_t raw[] = {0, 1, 2, 255};
  p.out->write_bytes("raw", raw);
  EXPECT_EQ(p.in->wait_for("raw", patience), value::binary({0, 1, 2, 255}));
  EXPECT_EQ(p.in->get("seq"), value(99));
  EXPECT_EQ(p.in->get("obj"), (value{{"x", 1.5}, {"list", {1, "two"}}}));
  EXPECT_EQ(p.listener.write_all("back", "hello"), 1u);
  EXPECT_EQ(p.out->wait_for("back", patience), value("hello"));
}

TEST(unix_socket, hubs_talk_legacy_over_a_socket_file) {
  temp_dir dir;
  unix_pair p(dir, /*native=*/false);
  ASSERT_TRUE(p.out && p.in);
  round_trip(*p.out, *p.in);
  EXPECT_FALSE(p.out->is_native());
  EXPECT_FALSE(p.in->is_native());
  p.in->write("back", value{{"ok", true}});
  EXPECT_EQ(p.out->wait_for("back", patience), (value{{"ok", true}}));
  p.out->close();
  EXPECT_TRUE(eventually([&] { return !p.in->is_open(); }));
  EXPECT_EQ(p.in->close_reason(), errc::peer_closing);
}

TEST(unix_socket, a_hub_listens_on_tcp_and_a_socket_file_at_once) {
  temp_dir dir;
  auto endpoint = dir.endpoint("both.sock");
  hub centre({.port = 0, .listen_on = {endpoint}});
  ASSERT_NE(centre.port(), 0u);
  hub over_tcp({.listen = false});
  hub over_unix({.listen = false});
  auto t = over_tcp.connect("tcp", "127.0.0.1", centre.port());
  auto u = over_unix.connect("unix", endpoint);
  ASSERT_TRUE(centre.wait_for_connections(2, patience));
  t->write("via", "tcp");
  u->write("via", "unix");
  ASSERT_TRUE(eventually([&] { return centre.get_all("via").size() == 2; }));
  EXPECT_EQ(centre.get_by_name("unix", "via"), std::vector<value>{"unix"});
  EXPECT_EQ(centre.get_by_name("tcp", "via"), std::vector<value>{"tcp"});
}

TEST(unix_socket, host_and_clients_over_a_socket_file) {
  temp_dir dir;
  auto endpoint = dir.endpoint("host.sock");
  host h({.address = endpoint});
  h.start();
  EXPECT_EQ(h.port(), 0u);
  client a({.address = endpoint});
  client b({.address = endpoint, .native = false});
  ASSERT_TRUE(h.wait_for_connections(2, patience));
  EXPECT_EQ(h.write_all("cmd", "go"), 2u);
  EXPECT_EQ(a.wait_for("cmd", patience), value("go"));
  EXPECT_EQ(b.wait_for("cmd", patience), value("go"));
  a.write("id", "a");
  b.write("id", "b");
  ASSERT_TRUE(eventually([&] { return h.get_all("id").size() == 2; }));
  EXPECT_TRUE(eventually([&] { return a.connection()->is_native(); }));
  EXPECT_FALSE(b.connection()->is_native());
}

TEST(unix_socket, images_cross_in_every_encoding) {
  temp_dir dir;
  for (bool native : {true, false}) {
    unix_pair p(dir, native);
    ASSERT_TRUE(p.out && p.in);
    round_trip(*p.out, *p.in);
    auto encodings = native ? std::vector<image_encoding>{image_encoding::raw, image_encoding::png,
                                                          image_encoding::jpeg}
                            : std::vector<image_encoding>{image_encoding::png};
    for (auto encoding : encodings) {
      auto img = pattern_image(64, 48, pixel_order::bgr, static_cast<unsigned>(encoding));
      auto since = p.in->image_version();
      ASSERT_TRUE(p.out->wait_for_image_slot(patience));
      EXPECT_NE(p.out->write_image(img, encoding), image_status::dropped);
      auto got = p.in->wait_for_next_image(patience, since);
      ASSERT_TRUE(got) << "native " << native << " encoding " << static_cast<int>(encoding);
      EXPECT_EQ(got->width(), 64u);
      EXPECT_EQ(got->height(), 48u);
      if (encoding != image_encoding::jpeg) {
        EXPECT_EQ(*got, img);
      }
    }
    // A camera-sized frame, larger than the socket's buffer.
    auto big = pattern_image(640, 480, pixel_order::bgr, 7);
    auto since = p.in->image_version();
    ASSERT_TRUE(p.out->wait_for_image_slot(patience));
    p.out->write_image(big);
    auto got = p.in->wait_for_next_image(patience, since);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, big);
    // Host and client images travel over the same transport.
    auto endpoint = dir.endpoint(native ? "images-native.sock" : "images-legacy.sock");
    host h({.address = endpoint, .native = native});
    h.start();
    client c({.address = endpoint, .native = native});
    ASSERT_TRUE(h.wait_for_connection(patience));
    EXPECT_EQ(h.write_image_all(big), 1u);
    auto at_client = c.wait_for_image(patience);
    ASSERT_TRUE(at_client);
    EXPECT_EQ(*at_client, big);
  }
}

TEST(unix_socket, a_stale_socket_file_is_replaced) {
  temp_dir dir;
  auto path = dir.file("stale.sock");
  make_stale_socket(path);
  hub h({.listen = false, .listen_on = {"unix:" + path}});
  hub peer({.listen = false});
  auto c = peer.connect("p", "unix:" + path);
  ASSERT_TRUE(c);
  c->write("hello", 1);
  auto in = h.wait_for_connection(patience);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->wait_for("hello", patience), value(1));
}

TEST(unix_socket, a_live_socket_file_is_not_stolen) {
  temp_dir dir;
  auto endpoint = dir.endpoint("live.sock");
  hub first({.listen = false, .listen_on = {endpoint}});
  try {
    hub second({.listen = false, .listen_on = {endpoint}});
    FAIL() << "a second hub took a socket file that a live hub listens on";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find(endpoint), std::string::npos) << e.what();
  }
  try {
    host h({.address = endpoint});
    FAIL() << "a host took a socket file that a live hub listens on";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find(endpoint), std::string::npos) << e.what();
  }
  // The first hub still has its file and still answers.
  hub peer({.listen = false});
  auto c = peer.connect("p", endpoint);
  ASSERT_TRUE(c);
  c->write("still", "here");
  // Asked across connections: the probes' connections may still be open.
  EXPECT_EQ(first.wait_for("still", patience), std::vector<value>{value("here")});
}

TEST(unix_socket, a_file_that_is_not_a_socket_is_left_alone) {
  temp_dir dir;
  auto path = dir.file("notes.txt");
  std::ofstream(path) << "keep me";
  try {
    hub h({.listen = false, .listen_on = {"unix:" + path}});
    FAIL() << "a hub replaced a regular file";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
}

TEST(unix_socket, the_socket_file_gets_the_mode_asked_for) {
  temp_dir dir;
  for (std::uint32_t mode : {0600u, 0660u, 0666u}) {
    auto path = dir.file("mode-" + std::to_string(mode) + ".sock");
    hub h({.listen = false, .listen_on = {"unix:" + path}, .socket_file_mode = mode});
    EXPECT_EQ(mode_of(path), mode);
  }
  // Without the option, the umask decides, as it does for any new file.
  auto old = ::umask(027);
  auto path = dir.file("umask.sock");
  {
    host h({.address = "unix:" + path});
    EXPECT_EQ(mode_of(path), 0750u);
  }
  ::umask(old);
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(unix_socket, nothing_but_the_socket_file_is_left_beside_it) {
  temp_dir dir;
  auto path = dir.file("only.sock");
  auto folder = std::filesystem::path(path).parent_path().string();
  {
    hub h({.listen = false, .listen_on = {"unix:" + path}, .socket_file_mode = 0600});
    EXPECT_EQ(names_in(folder), std::vector<std::string>{"only.sock"});
  }
  EXPECT_TRUE(names_in(folder).empty());
}

TEST(unix_socket, a_path_with_no_room_beside_it_is_made_in_place) {
  temp_dir dir;
  // 107 bytes, the most a socket address holds: no staging name fits.
  auto base = dir.file("");
  auto path = base + std::string(107 - base.size(), 'p');
  ASSERT_EQ(path.size(), 107u);
  hub h({.listen = false, .listen_on = {"unix:" + path}, .socket_file_mode = 0640});
  EXPECT_EQ(mode_of(path), 0640u);
  hub peer({.listen = false});
  ASSERT_TRUE(peer.connect("p", "unix:" + path));
  EXPECT_TRUE(h.wait_for_connection(patience));
}

TEST(unix_socket, the_socket_file_is_removed_on_close) {
  temp_dir dir;
  auto path = dir.file("gone.sock");
  {
    hub h({.listen = false, .listen_on = {"unix:" + path}});
    EXPECT_TRUE(exists(path));
  }
  EXPECT_FALSE(exists(path));
  host h({.address = "unix:" + path});
  EXPECT_TRUE(exists(path));
  h.close();
  EXPECT_FALSE(exists(path));
}

TEST(unix_socket, a_dial_waits_for_the_socket_file_to_appear) {
  temp_dir dir;
  auto endpoint = dir.endpoint("later.sock");
  hub dialler({.listen = false, .connect_timeout = patience});
  std::shared_ptr<connection> c;
  std::error_code ec;
  std::thread dial([&] { c = dialler.connect("late", endpoint, ec); });
  // Not a wait for the network: the dial must be under way, and meeting a
  // missing file, before the listener exists, or this tests nothing.
  std::this_thread::sleep_for(100ms);
  hub listener({.listen = false, .listen_on = {endpoint}});
  dial.join();
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(c);
  EXPECT_TRUE(listener.wait_for_connection(patience));
}

TEST(unix_socket, bad_paths_are_reported) {
  std::string long_path = "unix:/tmp/" + std::string(200, 'x');
  try {
    hub h({.listen = false, .listen_on = {long_path}});
    FAIL() << "a path longer than a socket address holds was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::filename_too_long);
  }
  EXPECT_THROW(hub({.listen = false, .listen_on = {"unix:"}}), std::system_error);
  hub dialler({.listen = false, .connect_timeout = 0ms});
  std::error_code ec;
  EXPECT_FALSE(dialler.connect("x", long_path, ec));
  EXPECT_EQ(ec, std::errc::filename_too_long);
  temp_dir dir;
  EXPECT_FALSE(dialler.connect("x", dir.endpoint("nobody.sock"), ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

} // namespace
} // namespace socketengine
