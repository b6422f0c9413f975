#pragma once
/// \file options.hpp
/// Options of hubs, hosts and clients: plain structs with documented defaults,
/// meant for designated initialisers: `hub h({.port = 9000});`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace socketengine {

/// What a write does when the connection's write queue is full: the peer is
/// not reading as fast as this side writes.
enum class overflow_policy {
  /// Keep only the latest value per channel for that peer, replacing an
  /// older one still waiting, and send them once the queue has drained: the
  /// peer catches up with the newest state and a write never waits. The
  /// first message held is reported (errc::queue_full); each one replaced
  /// counts in connection_stats::conflated. The default.
  conflate,
  /// Wait up to the engine's `timeout` for room, then fail with
  /// errc::queue_full. One stuck peer then delays write_all to every peer.
  block,
  /// Fail at once with errc::queue_full.
  fail,
  /// Fail at once with errc::queue_full, and once the queue has been full
  /// for limits::slow_peer_timeout without draining, close the connection
  /// (errc::slow_consumer), reported: a peer that cannot keep up is cut off.
  disconnect
};

/// Bounds that keep a misbehaving peer or a slow reader from growing memory
/// without limit. The same for hubs, hosts and clients.
struct limits {
  /// Longest line accepted from a peer, in bytes (without the `\n`). A longer
  /// line closes that connection with errc::line_too_long. Native frames are
  /// held to this too (errc::frame_too_large), but may always carry the
  /// largest raw image image_options::max_pixels allows. Default 64 MiB.
  std::size_t max_line_bytes = std::size_t{64} << 20;
  /// Deepest JSON nesting accepted in a line; deeper lines are dropped with
  /// errc::too_deep. Default 64.
  std::size_t max_depth = 64;
  /// Most distinct channels stored per connection; a message on a new channel
  /// beyond this is dropped. The first such drop on a connection is reported
  /// (errc::too_many_channels, naming this option), later ones only counted
  /// in connection_stats::errors. Default 65,536: socket.engine 0.3 keeps
  /// every channel a peer writes, and programs that write ten thousand are
  /// known. Each channel kept costs its name and value (counted in
  /// max_receive_bytes) plus about 100 bytes of bookkeeping, so a peer at
  /// the limit with small values holds about 8 MiB.
  std::size_t max_channels = 65536;
  /// Bytes a connection may have queued for sending. Default 16 MiB. A single
  /// message larger than this is still accepted when the queue is empty, and
  /// protocol replies (image acknowledgements, written as one line or frame
  /// however many are owed) and `__closing` may pass the bound by a line.
  /// Images are not held to it (see connection::write_image).
  std::size_t max_write_queue_bytes = std::size_t{16} << 20;
  /// What a write does when the queue is full. Default: conflate.
  overflow_policy on_full_queue = overflow_policy::conflate;
  /// Under overflow_policy::disconnect: how long the queue may stay full,
  /// without draining once, before the peer is cut off. Default 5 s.
  std::chrono::milliseconds slow_peer_timeout{5000};
  /// Message and error events waiting for the callback thread; past this (or
  /// max_pending_callback_bytes), new ones are dropped and reported as
  /// errc::callback_queue_overflow. Connect and disconnect events have a
  /// reserve as large again past this bound. Default 65536.
  std::size_t max_pending_callbacks = 65536;
  /// Bytes of received lines waiting for the callback thread, as a second
  /// bound on that queue. Default 64 MiB.
  std::size_t max_pending_callback_bytes = std::size_t{64} << 20;
  /// Closed connections a hub or host keeps listed (their last values stay
  /// readable); the oldest closed ones are forgotten past this, and with 0
  /// each is forgotten as it closes. Default 256.
  std::size_t max_closed_connections = 256;

  /// Bytes an engine may hold at once, over all its connections, of what
  /// it received: unfinished lines and frames (whatever size their peers
  /// claim), the values stored (about their size on the wire) and the
  /// images, closed connections kept listed included. A buffer for a
  /// message arriving is charged before it is allocated; what is stored is
  /// counted once stored. When the total would pass this, the values kept
  /// from closed connections are dropped first, oldest first; then the open
  /// connection that keeps the most is closed and what it kept dropped
  /// (errc::over_budget, reported, for each); a reader whose message still
  /// finds no room is closed the same way. 0: no limit. Default 1 GiB.
  std::size_t max_receive_bytes = std::size_t{1} << 30;
  /// A line or frame that has begun must finish in `receive_grace` plus
  /// the time its bytes so far take at this rate (bytes per second): a peer
  /// that starts a message and then trickles it, or goes quiet, is closed
  /// with errc::receive_timeout instead of holding its partial message for
  /// ever. 0: no such deadline. Default 16 KiB/s, a slow radio link.
  std::size_t min_receive_rate = 16 * 1024;
  /// See min_receive_rate. Default 10 s.
  std::chrono::milliseconds receive_grace{10000};
  /// How long a peer that connected to a hub may take to name itself (the
  /// `__name_conn` line a hub sends first when it dials): past this it is
  /// closed with errc::not_identified. Hosts do not close silent peers for
  /// their silence (a socket.engine 0.3 client sends nothing until it
  /// writes), only for their number (max_unidentified). 0: no such
  /// deadline. Default 10 s.
  std::chrono::milliseconds identify_timeout{10000};
  /// Accepted connections that have not yet named themselves (hub) or sent
  /// a byte (host) at one time. A new one past this closes the oldest of
  /// them if it has waited longer than identify_timeout (a host's silent
  /// clients can be that old), or else is itself closed; either is reported
  /// as errc::not_identified. A flood of silent sockets thus ends, and
  /// takes at most this many connections. Default 256.
  std::size_t max_unidentified = 256;
};

/// How an engine notices that a peer has stopped or vanished on a link
/// that is otherwise quiet. Defaults find a dead link within a few seconds
/// and never drop a healthy idle one.
struct keepalive_options {
  /// Between socketengine peers (the native protocol): when nothing has
  /// arrived for this long, a ping is sent, which the peer answers at once,
  /// so that a healthy link is never silent for longer. 0 or less: no pings
  /// and no heartbeat deadline. Default 1 s.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// Heartbeat intervals without a byte from a native peer after which the
  /// link is declared dead and closed with errc::peer_unresponsive: a
  /// stopped or frozen process, a host gone from the network. A ping must
  /// also have gone unanswered for an interval, so a side whose own thread
  /// was held up asks before it blames. Default 3.
  int heartbeat_misses = 3;
  /// TCP keepalive on every TCP connection, which is what watches legacy
  /// peers (they cannot answer pings) on a quiet link: the first probe goes
  /// after this much idle time, then one every tcp_keepalive_interval;
  /// tcp_keepalive_count unanswered probes end the connection. It notices
  /// a vanished machine or network, not a stopped process, whose system
  /// still answers. 0: keepalive off. Default 5 s, 1 s and 3.
  std::chrono::seconds tcp_keepalive_idle{5};
  std::chrono::seconds tcp_keepalive_interval{1};
  int tcp_keepalive_count = 3;
  /// TCP_USER_TIMEOUT: how long written bytes may stay unacknowledged
  /// before the system ends the connection (a peer gone while we send to
  /// it). Linux counts a peer whose receive window stays shut (one that
  /// stopped reading) the same way, so this is also how long a stuck
  /// reader is kept. 0: the system's default, about 15 minutes.
  /// Default 30 s.
  std::chrono::milliseconds tcp_user_timeout{30000};
};

/// What a connection this side dialled (hub::connect, a client's) does
/// when its link is lost: it redials by itself and stays the same
/// connection object, whose last values stay readable meanwhile (see
/// connection::state). Waits between attempts grow from min_backoff,
/// doubling, up to max_backoff, and each is a random fraction of that cap
/// (full jitter), so that robots that lost the same hub do not all come
/// back in the same millisecond. Every attempt resolves the address again
/// and is given the engine's connect_timeout. Accepted connections never redial: their peers do.
struct reconnect_options {
  /// Redial a lost link. false: the connection closes for good, as with
  /// socket.engine 0.3. Default true.
  bool enabled = true;
  /// Cap of the wait before the first attempt. Default 100 ms.
  std::chrono::milliseconds min_backoff{100};
  /// Largest cap of a wait between attempts. Default 5 s.
  std::chrono::milliseconds max_backoff{5000};
};

/// How an image travels over the native protocol (legacy peers always get
/// PNG, the only encoding they know).
enum class image_encoding : std::uint8_t {
  png,  ///< lossless and compressed: what legacy peers get too
  jpeg, ///< lossy, smallest and fastest to encode (image_options::jpeg_quality)
  raw   ///< the pixels as they are: no encoding cost, the most bytes
};

/// How images are encoded and sent, and what is accepted.
struct image_options {
  /// zlib compression level of the PNGs written, 0 (none, fastest) to 9
  /// (smallest, slowest); values outside are clamped. Level 1, the default,
  /// is tuned for camera frames (one row filter, run-length deflate): in the
  /// benchmark a 640x480 frame encodes in 18 ms instead of 29 ms with
  /// libspng's own filter search, and comes out 13% smaller. Level 0 sends
  /// about 2.3 times the bytes.
  int png_compression = 1;
  /// What a write does while the previous image to that peer is still in
  /// flight (see connection::write_image). true (default): keep this frame
  /// as the connection's one pending frame, replacing any older pending one,
  /// and send it when the one in flight is done, so the peer always gets the
  /// newest frame and never a backlog. false: drop it, as socket.engine 0.3
  /// does. Either way the call says what happened (see image_status).
  bool latest_frame_wins = true;
  /// Largest image accepted from a peer, in pixels (width * height), checked
  /// from the PNG header before the pixels are allocated. A larger one is
  /// dropped with errc::image_too_large. Default 16,777,216 (4096 x 4096;
  /// 4K UHD fits), so one received image takes at most 64 MiB. PNG
  /// compresses flat images enormously: a peer can make the engine hold
  /// that much per open connection with little traffic, so lower this when
  /// frames are known to be smaller.
  std::uint64_t max_pixels = std::uint64_t{1} << 24;
  /// Encoding of images sent to native peers, unless a write names one.
  /// Default png: the same lossless frames a legacy peer gets.
  image_encoding encoding = image_encoding::png;
  /// JPEG quality, 1 (smallest) to 100 (best); values outside are clamped.
  /// Default 90.
  int jpeg_quality = 90;
  /// Images a connection to a native peer may have in flight (sent, not yet
  /// acknowledged by the peer): while one travels the next is encoded and
  /// sent, so encoding and transfer overlap. A frame written past this
  /// waits as the pending frame, as with one in flight to a legacy peer,
  /// which always gets 1. Values below 1 count as 1. Default 2.
  int max_frames_in_flight = 2;
};

/// Token authentication between socketengine peers (see README, Security).
/// With a token, each side of a connection proves to the other that it
/// holds the same token before anything else passes: the token itself never
/// crosses the wire (each side answers the other's random nonce with an
/// HMAC-SHA256 keyed by it), and a proof is compared in constant time. Until
/// both proofs check out, nothing the peer sends is stored, no callback
/// runs for it, the connection is not listed, `hub::connect` and opening a
/// client have not returned, and nothing the application writes goes out.
/// A wrong or missing token closes the connection on both sides with
/// errc::unauthenticated. This authenticates peers; it does not encrypt or
/// protect what follows.
///
/// Set at most one of token, token_file and token_env; none: no
/// authentication (the default), and such an engine is refused by one that
/// requires a token. The engine's constructor reads the token and throws
/// std::invalid_argument (two sources, an empty token, a variable not set)
/// or std::system_error (a file it cannot read), naming the option but
/// never the token.
struct auth_options {
  /// The token itself: any bytes, at most 4096. Prefer token_file or
  /// token_env, which keep it out of command lines and source code.
  std::string token{};
  /// A file holding the token; one trailing newline is not part of it.
  std::string token_file{};
  /// An environment variable holding the token, read when the engine is
  /// made; one trailing newline is not part of it.
  std::string token_env{};
  /// Admit peers that cannot authenticate at all: socket.engine 0.3 peers
  /// (Python and Node.js), which speak first with data instead of a
  /// handshake, or stay silent until timeout. They are then trusted as
  /// without a token. A socketengine peer without a token, or with a wrong
  /// one, is refused all the same, unless its `native` option is off: it
  /// then greets as a 0.3 peer does, and is admitted as one. Default false.
  bool allow_legacy = false;
  /// How long a connection may take to authenticate; past it the
  /// connection closes with errc::not_identified (or, with allow_legacy, a
  /// silent peer is admitted as a legacy one). Until then it may send at
  /// most one line of 4096 bytes at a time. Default 5 s.
  std::chrono::milliseconds timeout{5000};
};

/// TLS on an engine's TCP links (OpenSSL): every connection it accepts or
/// dials over TCP is encrypted; a dialler checks the listener's certificate
/// (verify_peer), a listener the dialler's only when it requires one
/// (require_client_certificate).
/// Unix domain sockets (`unix:` endpoints) stay plain: their file mode
/// guards them. With TLS on, nothing falls back to plain TCP: a peer that
/// does not complete the handshake is refused (and reported, with
/// OpenSSL's reason, in tls_category()).
///
/// Files are PEM. The engine's constructor reads them all and throws
/// std::system_error naming the option and file (one it cannot read) or
/// std::invalid_argument (a key that does not match the certificate, a
/// listener without a certificate, options set while `enabled` is false).
/// Certificates are read once: restart the engine to take renewed ones.
struct tls_options {
  /// Use TLS. Default false.
  bool enabled = false;
  /// This side's certificate (the chain, leaf first). Required to listen;
  /// when dialling, presented if the peer asks for one (mutual TLS).
  std::string certificate_file{};
  /// The private key of certificate_file, unencrypted.
  std::string private_key_file{};
  /// The certificate authorities trusted to sign the peer's certificate.
  /// Empty: the system's (OpenSSL's default paths).
  std::string ca_file{};
  /// Dialling: check the listener's certificate against the CAs and against
  /// the name dialled (a host name, or an IP address, which the certificate
  /// must name among its subject alternative names). Turn it off only for
  /// tests: without it anyone between the two can read and write the link.
  /// Default true.
  bool verify_peer = true;
  /// Dialling: the name the listener's certificate must carry, when it is
  /// not the address dialled (a certificate for "robot.local" dialled by
  /// IP address, say); also sent as the server name (SNI).
  std::string server_name{};
  /// Listening: ask every peer for a certificate signed by one of the CAs
  /// (mutual TLS), and refuse a peer without one. Default false.
  bool require_client_certificate = false;
  /// How long a handshake may take before the connection is dropped.
  /// Default 5 s.
  std::chrono::milliseconds handshake_timeout{5000};
};

/// How a hub answers LAN discovery (see discovery.hpp): a hub that has a
/// name (hub_options::name) and listens on TCP answers the queries of
/// discover() and hub::connect_by_name() with its name, id, port, whether
/// it needs TLS or a token, and its addresses on the interface the query
/// came in on. It answers at most 50 queries a second. Nothing is sent but
/// those answers; joining the group makes the system announce membership
/// (IGMP) on each interface joined.
struct discovery_options {
  /// Answer queries. false, or the environment variable
  /// SOCKETENGINE_DISCOVERY set to "off" or "0" when the hub is made:
  /// the hub is never found by discovery. Default true.
  bool enabled = true;
  /// The IPv4 multicast group queries go to. Default 239.255.83.69, of the
  /// organisation-local scope (RFC 2365), which routers keep inside a site.
  std::string group = "239.255.83.69";
  /// The UDP port queries go to. Hubs of one machine share it. Default 7183.
  std::uint16_t port = 7183;
  /// Interfaces to answer on, by name ("eth0"); empty: every interface that
  /// is up and can multicast, including ones that come up later (looked
  /// for every 2 s).
  std::vector<std::string> interfaces{};
};

/// Options of a hub (seed: `hub(port=None, timeout=2, size=256)`).
///
/// Where an engine listens or dials is an address: a numeric IPv4 or IPv6
/// address or a host name with a TCP port, or an endpoint that names its
/// transport, `unix:PATH` for a Unix domain socket (`unix:/run/robot.sock`;
/// PATH may be relative, and holds at most 107 bytes). Unix domain sockets
/// join processes of one machine, faster than TCP over loopback; a port
/// given with them is ignored.
struct hub_options {
  /// This hub's name, which discovery finds it by (see discovery_options):
  /// 1 to 255 bytes of UTF-8 without control characters. Empty (default):
  /// the hub does not answer discovery. It does not name connections: a
  /// connection's name is still the one its dialler gives.
  std::string name{};
  /// Port to listen on. Empty: the first free port of 8080..8179, as the seed.
  /// 0: a port chosen by the operating system (see `hub::port()`).
  std::optional<std::uint16_t> port{};
  /// Address to listen on. Default: all IPv4 interfaces, as the seed.
  /// "::" listens on IPv6 and (where the system allows) IPv4 too.
  std::string bind_address = "0.0.0.0";
  /// Listen on TCP, at `bind_address` and `port`. False: no TCP listener;
  /// `port` and `bind_address` are then ignored and `hub::port()` is 0, and
  /// the hub listens on `listen_on` only, or, with that empty, only dials
  /// (`connect`): the seed's stand-alone `connection(name).connect(...)`.
  bool listen = true;
  /// Endpoints to listen on besides the TCP port, such as
  /// `{"unix:/run/robot.sock"}`. A socket file left by a process that is
  /// gone is replaced; one where a listener still answers is not (the
  /// constructor throws std::errc::address_in_use naming it), nor is a file of
  /// another kind. The hub removes its socket files when it closes.
  std::vector<std::string> listen_on{};
  /// Permission bits of the socket files made for `unix:` endpoints, as
  /// chmod(2) takes them: 0660 lets the owner's group connect too, 0600
  /// only the owner. Empty (default): what the process's umask leaves.
  std::optional<std::uint32_t> socket_file_mode{};
  /// Seed `timeout`: how long `close()` waits for queued bytes to be written,
  /// and how long a write blocks on a full queue. Default 2 s.
  std::chrono::milliseconds timeout{2000};
  /// How long `connect()` keeps retrying a refused connection (0 or less: one
  /// attempt, bounded only by the system's connect timeout). Default 10 s;
  /// the seed retries forever (use `std::chrono::milliseconds::max()`).
  std::chrono::milliseconds connect_timeout{10000};
  /// Seed `size`: bytes asked for per read. The engine never reads less than
  /// 4096 at a time, whatever this says; it is kept for the seed's signature.
  std::size_t read_size = 256;
  /// Offer the native binary protocol (docs/native-protocol.md) on every
  /// connection. Two socketengine peers that both offer it switch to it; a
  /// socket.engine 0.3 peer never answers the offer and keeps the legacy
  /// protocol. false: speak only the legacy protocol. Default true.
  bool native = true;
  /// Added to the nice value of the engine's work thread, which decodes
  /// images and parses lines and frames of 64 KiB or more (Linux gives each
  /// thread its own; raising it needs no privilege, lowering it needs
  /// CAP_SYS_NICE and is otherwise ignored). Above 0 the work thread yields
  /// the CPU to the engine's other threads and to every other process of
  /// the session (where the kernel groups them): at +10 it gets about a
  /// tenth of a busy neighbour's share, and on a busy machine decodes fall
  /// far behind (docs/design.md has figures). A scheduler that lets a long
  /// decode delay the I/O thread may call for a positive value; Linux
  /// 6.18's did not (round trips during a decode were the same at 0 and
  /// +10). Default 0: as the engine's other threads.
  int work_thread_nice = 0;
  struct limits limits {};
  struct image_options images {};
  struct keepalive_options keepalive {};
  struct reconnect_options reconnect {};
  struct auth_options auth {};
  struct tls_options tls {};
  struct discovery_options discovery {};
};

/// Options of a host (seed: `host(addr='127.0.0.1', port=8080, timeout=2,
/// size=256, open=True)`).
struct host_options {
  /// Address to bind (see hub_options for the forms): the host binds
  /// exactly this (the Python seed bound all interfaces whatever it was
  /// given); `unix:PATH` listens on a Unix domain socket instead of TCP.
  std::string address = "127.0.0.1";
  /// Port to bind; 0 lets the operating system choose (see `host::port()`).
  std::uint16_t port = 8080;
  /// Endpoints to listen on besides `address`, as hub_options::listen_on.
  std::vector<std::string> listen_on{};
  /// As hub_options::socket_file_mode.
  std::optional<std::uint32_t> socket_file_mode{};
  /// Seed `timeout`, as for hub_options::timeout.
  std::chrono::milliseconds timeout{2000};
  /// Seed `size`, as for hub_options::read_size.
  std::size_t read_size = 256;
  /// Bind in the constructor (seed `open=True`); otherwise call `open()`.
  bool open = true;
  /// Offer the native protocol, as hub_options::native. Default true.
  bool native = true;
  /// As hub_options::work_thread_nice. Default 0.
  int work_thread_nice = 0;
  struct limits limits {};
  struct image_options images {};
  struct keepalive_options keepalive {};
  struct auth_options auth {};
  struct tls_options tls {};
};

/// Options of a client (seed: `client(addr='127.0.0.1', port=8080, timeout=2,
/// size=256, open=True)`).
struct client_options {
  /// Address of the host: a numeric IPv4/IPv6 address, a host name, or
  /// `unix:PATH` (see hub_options).
  std::string address = "127.0.0.1";
  /// Port of the host; ignored for `unix:` addresses.
  std::uint16_t port = 8080;
  /// Seed `timeout`, as for hub_options::timeout.
  std::chrono::milliseconds timeout{2000};
  /// How long opening keeps retrying a refused connection. Default 10 s; the
  /// seed retries forever (use `std::chrono::milliseconds::max()`).
  std::chrono::milliseconds connect_timeout{10000};
  /// Seed `size`, as for hub_options::read_size.
  std::size_t read_size = 256;
  /// Connect in the constructor (seed `open=True`); otherwise call `open()`.
  bool open = true;
  /// Offer the native protocol, as hub_options::native. Default true.
  bool native = true;
  /// As hub_options::work_thread_nice. Default 0.
  int work_thread_nice = 0;
  struct limits limits {};
  struct image_options images {};
  struct keepalive_options keepalive {};
  struct reconnect_options reconnect {};
  struct auth_options auth {};
  struct tls_options tls {};
};

} // namespace socketengine
