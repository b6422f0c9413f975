// socketengine: the command line. Subcommands listen, send, get, watch,
// discover, bench, view and bridge (see `socketengine --help`); the work of each is in
// its own file.

#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli.hpp"

namespace se = socketengine::cli;

namespace {

constexpr const char* addresses_help =
    "ADDRESS is HOST:PORT, [IPv6]:PORT, HOST (port 8080), PORT (on 127.0.0.1), unix:PATH, or "
    "@NAME: the hub of that name on the local network (see discover).";

constexpr const char* exit_help =
    "Exit status: 0 done; 1 failed (the peer cannot be reached, the port cannot be listened "
    "on, the link broke); 2 bad usage (an option, address, port, JSON value or format); 3 "
    "timed out (get: no value; listen --count: too few messages); 130 interrupted.";

void add_common(CLI::App* app, se::common_options& o) {
  app->add_flag("--legacy", o.legacy,
                "Speak only the socket.engine 0.3 protocol (no native binary frames)");
  app->add_option("--name", o.name, "The name this side announces when it dials")
      ->capture_default_str();
  app->add_option("--connect-timeout", o.connect_timeout,
                  "Seconds a dial keeps trying while nothing listens")
      ->type_name("SECONDS")
      ->capture_default_str();
  auto* auth = app->add_option_group("Token authentication");
  auth->add_option("--token-file", o.token_file, "Read the shared token from FILE")->type_name("FILE");
  auth->add_option("--token-env", o.token_env, "Read the shared token from environment variable VAR")
      ->type_name("VAR");
  auth->add_flag("--allow-legacy", o.allow_legacy,
                 "With a token, still admit socket.engine 0.3 peers");
  auto* tls = app->add_option_group("TLS");
  tls->add_flag("--tls", o.tls, "Use TLS on TCP links");
  tls->add_option("--tls-ca", o.tls_ca, "CA certificates (PEM) to check the peer against");
  tls->add_option("--tls-cert", o.tls_cert, "This side's certificate (PEM)");
  tls->add_option("--tls-key", o.tls_key, "The private key of --tls-cert (PEM)");
  tls->add_option("--tls-server-name", o.tls_server_name,
                  "The name the listener's certificate must carry, if not the address dialled");
  tls->add_flag("--tls-no-verify", o.tls_no_verify,
                "Do not check the listener's certificate (tests only)");
}

// For the subcommands that listen: a name makes the hub discoverable.
void add_hub_name(CLI::App* app, se::common_options& o) {
  app->add_option("--hub-name", o.hub_name,
                  "Answer discovery as NAME: `socketengine discover` lists this hub, and "
                  "@NAME dials it")
      ->type_name("NAME");
}

} // namespace

int main(int argc, char** argv) {
  // First, before any thread: Ctrl-C and SIGTERM end waits instead of the
  // process, so that what was sent is flushed and the terminal restored.
  se::stop_signal stop;

  CLI::App app{"socketengine: send, receive and watch values and images on socketengine and "
               "socket.engine 0.3 peers.",
               "socketengine"};
  app.require_subcommand(1);
  app.footer(std::string(addresses_help) + "\n" + exit_help);
  app.set_version_flag("--version", "socketengine 0.1.0");

  se::common_options common;

  se::listen_args listen;
  std::string listen_port = "8080";
  auto* listen_cmd = app.add_subcommand(
      "listen", "Listen as a hub and print every message that arrives, one line each");
  listen_cmd->add_option("-p,--port", listen_port, "TCP port (0: one the system chooses)")
      ->type_name("PORT")
      ->capture_default_str();
  listen_cmd->add_option("--bind", listen.bind, "Address to listen on")
      ->type_name("ADDRESS")
      ->capture_default_str();
  listen_cmd->add_option("--unix", listen.unix_path, "Listen on a Unix socket at PATH too")
      ->type_name("PATH");
  auto* format_opt = listen_cmd->add_option(
      "-F,--format", listen.format,
      "Each line as FORMAT, with {peer} {channel} {value} {size} {time} (fmt syntax, "
      "e.g. \"{time} {peer}/{channel}: {value}\"; default \"{peer} {channel} {value}\")");
  listen_cmd->add_flag("--json", listen.json,
                       "One JSON object per line: time, peer, channel, size, value")
      ->excludes(format_opt);
  listen_cmd->add_option("-n,--count", listen.count, "End after N messages")->type_name("N");
  listen_cmd->add_option("-W,--timeout", listen.timeout,
                         "End after SECONDS (with --count: exit 3 if fewer came)")
      ->type_name("SECONDS");
  listen_cmd->add_flag("--all", listen.all,
                       "Show the protocol's own channels too (__name_conn, __status, ...)");
  listen_cmd->footer(
      "Values are printed as compact JSON; an image as <WxH order image> on channel "
      "\"image\"; a bytes value as <N bytes> (in --json, {\"base64\": ...}). The port is "
      "announced on stderr.\n" +
      std::string(exit_help));
  add_common(listen_cmd, common);
  add_hub_name(listen_cmd, common);

  se::send_args send;
  auto* send_cmd = app.add_subcommand("send", "Dial a peer and write a value or a picture");
  send_cmd->add_option("ADDRESS", send.address, "Where to send")->required();
  send_cmd->add_option("CHANNEL", send.channel, "The channel");
  auto* value_opt = send_cmd->add_option(
      "VALUE", send.value, "A JSON value (42, true, {\"x\": 1}, \"text\") or any other text");
  send_cmd->add_flag("-s,--string", send.as_string, "Send VALUE as text, even if it is JSON");
  send_cmd->add_option("-i,--image", send.image_file, "Send the picture in FILE (PNG or JPEG)")
      ->type_name("FILE");
  send_cmd->add_option("--encoding", send.encoding,
                       "How native peers get the picture: png, jpeg or raw (default png)")
      ->type_name("ENCODING");
  send_cmd->add_option("-r,--repeat", send.repeat, "Send it N times (0: until Ctrl-C)")
      ->type_name("N")
      ->capture_default_str();
  send_cmd->add_option("--rate", send.rate,
                       "At most R a second, paced by deadlines that do not drift (default: as "
                       "fast as the link takes them)")
      ->type_name("R");
  send_cmd->add_flag("--report", send.report,
                     "Print on stderr the rate achieved and how late sends were against their "
                     "deadlines");
  send_cmd->footer(std::string(addresses_help) + "\n" + exit_help);
  add_common(send_cmd, common);

  se::get_args get;
  auto* get_cmd = app.add_subcommand(
      "get", "Dial a peer, wait for a value on a channel, print it and exit");
  get_cmd->add_option("ADDRESS", get.address, "The peer")->required();
  get_cmd->add_option("CHANNEL", get.channel, "The channel")->required();
  get_cmd->add_option("-W,--timeout", get.timeout, "Seconds to wait for the value (exit 3 past it)")
      ->type_name("SECONDS")
      ->capture_default_str();
  get_cmd->add_flag("--pretty", get.pretty, "Print the JSON indented");
  get_cmd->footer(
      "A peer sends a value when it writes it, so this prints the next value the peer "
      "writes on CHANNEL.\n" +
      std::string(addresses_help) + "\n" + exit_help);
  add_common(get_cmd, common);

  se::watch_args watch;
  std::string watch_port;
  auto* watch_cmd = app.add_subcommand(
      "watch", "A live table of every peer and channel: latest value, rate, bytes, size, age");
  watch_cmd->add_option("ADDRESS", watch.address, "Dial this peer");
  watch_cmd->add_option("-p,--port", watch_port, "Or listen on this port (0: any)")->type_name("PORT");
  watch_cmd->add_option("--bind", watch.bind, "Address to listen on with --port")
      ->type_name("ADDRESS")
      ->capture_default_str();
  watch_cmd->add_option("--interval", watch.interval, "Seconds between redraws")
      ->type_name("SECONDS")
      ->capture_default_str();
  watch_cmd->add_option("-W,--timeout", watch.timeout, "End after SECONDS")->type_name("SECONDS");
  watch_cmd->add_flag("--all", watch.all,
                      "Show the protocol's own channels too (__name_conn, __status, ...)");
  watch_cmd->footer(
      "Rates are messages (frames, for images) and bytes a second over the last second, "
      "counted as messages arrive. When stdout is not a terminal, plain lines are printed "
      "once a second instead.\n" +
      std::string(addresses_help) + "\n" + exit_help);
  add_common(watch_cmd, common);
  add_hub_name(watch_cmd, common);

  se::discover_args discover;
  auto* discover_cmd = app.add_subcommand(
      "discover", "List the hubs that answer on the local network, one line each");
  discover_cmd->add_option("-W,--timeout", discover.timeout, "Collect answers for SECONDS")
      ->type_name("SECONDS")
      ->capture_default_str();
  discover_cmd->add_option("--hub", discover.name, "Only the hub(s) of this name")
      ->type_name("NAME");
  discover_cmd->add_option("--peer", discover.peers,
                           "Ask HOST[:PORT] directly too, where multicast does not reach "
                           "(may be given again)")
      ->type_name("HOST[:PORT]");
  discover_cmd->add_option("-i,--interface", discover.interfaces,
                           "Send the multicast query out of this interface only "
                           "(may be given again)")
      ->type_name("NAME");
  discover_cmd->add_flag("--no-multicast", discover.no_multicast,
                         "Ask only the --peer hosts and those in SOCKETENGINE_PEERS");
  discover_cmd->add_flag("--json", discover.json,
                         "One JSON object per hub: name, id, port, addresses, protocol, tls, "
                         "token, from");
  discover_cmd->footer(
      "Sends a query to 239.255.83.69:7183 out of every interface that can multicast (TTL 1: "
      "it stays on the local network) and to the peers listed with --peer and in the "
      "environment variable SOCKETENGINE_PEERS (HOST[:PORT], separated by commas or spaces). "
      "Hubs with a name (listen --hub-name, hub_options::name) answer with their addresses on "
      "the network the query reached them by. Each line: NAME  ADDRESS:PORT...  (protocol, "
      "tls, token; id). Exit status 3 when none answered.\n" +
      std::string(exit_help));

  se::bench_args bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "The side-by-side benchmark (socketengine-bench) with a progress display");
  bench_cmd->add_flag("--quick", bench.quick, "A short run (under a minute)");
  bench_cmd->add_option("--only", bench.only, "Only the cases whose title contains TEXT")
      ->type_name("TEXT");
  bench_cmd->add_flag("--legacy", common.legacy,
                      "socketengine only as socket.engine 0.3 speaks (JSON lines): its native "
                      "cases are skipped; raw TCP and ZeroMQ still run beside it");
  bench_cmd->footer(
      "Runs socketengine-bench (installed beside this program): socketengine next to ZeroMQ "
      "and raw TCP over loopback. The table and, last, a JSON line with every figure go to "
      "stdout; the case running and its time so far to stderr. The exit status is the "
      "benchmark's.");

  se::view_args view;
  std::string view_port = "8765", view_listen;
  auto* view_cmd = app.add_subcommand(
      "view", "A live viewer in the browser: every peer's values and camera frames");
  view_cmd->add_option("-p,--port", view_port,
                       "Port of the page and its WebSocket (0: any; 8765 is where Foxglove looks)")
      ->type_name("PORT")
      ->capture_default_str();
  view_cmd->add_option("--bind", view.bind,
                       "Address the page is served on (0.0.0.0 or :: to let other machines in)")
      ->type_name("ADDRESS")
      ->capture_default_str();
  view_cmd->add_option("-c,--connect", view.connect, "Dial this peer (may be given again)")
      ->type_name("ADDRESS");
  view_cmd->add_option("-l,--listen", view_listen, "Also let peers dial in on this port (0: any)")
      ->type_name("PORT");
  view_cmd->add_option("--listen-bind", view.listen_bind, "Address to listen on with --listen")
      ->type_name("ADDRESS")
      ->capture_default_str();
  view_cmd->add_option("--frames", view.frames, "How frames go to browsers: jpeg or png")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"jpeg", "png"}))
      ->capture_default_str();
  view_cmd->add_option("--jpeg-quality", view.jpeg_quality, "JPEG quality of the frames, 1 to 100")
      ->type_name("Q")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  view_cmd->add_option("--max-clients", view.max_clients,
                       "Browser and Foxglove connections at once; more are turned away")
      ->type_name("N")
      ->capture_default_str();
  view_cmd->add_option("--write-timeout", view.write_timeout,
                       "Seconds a client may take no data before it is cut off")
      ->type_name("SECONDS")
      ->capture_default_str();
  view_cmd->add_option("-W,--timeout", view.timeout, "End after SECONDS")->type_name("SECONDS");
  view_cmd->add_flag("--all", view.all,
                     "Show the protocol's own channels too (__name_conn, __status, ...)");
  view_cmd->footer(
      "Open the address it prints (http://127.0.0.1:8765/ by default) in a browser. Each "
      "camera's latest frame is sent to each browser once it has taken the one before to decode, "
      "so a slow browser sees fewer frames, never old ones. The same port speaks Foxglove's "
      "WebSocket protocol (foxglove.websocket.v1): open it from Foxglove or Lichtblick as a "
      "\"Foxglove WebSocket\" connection. Peers dialled with --connect are dialled again when "
      "their link drops.\n" +
      std::string(addresses_help) + "\n" + exit_help);
  add_common(view_cmd, common);
  add_hub_name(view_cmd, common);

  std::vector<const CLI::App*> subcommands = {listen_cmd,   send_cmd,  get_cmd, watch_cmd,
                                               discover_cmd, bench_cmd, view_cmd};
#ifdef SOCKETENGINE_CLI_MQTT
  se::bridge_args bridge;
  std::string bridge_port;
  auto* bridge_cmd = app.add_subcommand(
      "bridge", "Join a hub to an MQTT broker: chosen channels out as retained topics, topics in");
  bridge_cmd->add_option("-b,--broker", bridge.broker,
                         "The broker's ADDRESS; without a port, MQTT's 1883")
      ->type_name("ADDRESS")
      ->required();
  bridge_cmd->add_option("--hub-name", bridge.hub_name,
                         "This hub in the topics: PREFIX/NAME/PEER/CHANNEL")
      ->type_name("NAME")
      ->required();
  bridge_cmd->add_option("-p,--port", bridge_port, "Listen for peers on this TCP port (0: any)")
      ->type_name("PORT");
  bridge_cmd->add_option("--bind", bridge.bind, "Address to listen on")
      ->type_name("ADDRESS")
      ->capture_default_str();
  bridge_cmd->add_option("-c,--connect", bridge.connect, "Dial this peer (may be given again)")
      ->type_name("ADDRESS");
  bridge_cmd->add_option("--prefix", bridge.prefix, "The first topic level")->capture_default_str();
  bridge_cmd->add_option("--peer", bridge.peers, "Publish this peer's values (may be given again; "
                                                 "default: every peer)")
      ->type_name("NAME");
  bridge_cmd->add_option("--channel", bridge.channels,
                         "Publish this channel (may be given again; NAME* matches a prefix; "
                         "default: every channel)")
      ->type_name("NAME");
  bridge_cmd->add_option("--inbound", bridge.inbound,
                         "Write topics matching FILTER to every peer, or to PEER "
                         "(may be given again)")
      ->type_name("FILTER[=PEER]");
  bridge_cmd->add_flag("--no-images", bridge.no_images, "Do not publish images");
  bridge_cmd->add_option("--image-format", bridge.image_format, "Images as jpeg or png bytes")
      ->check(CLI::IsMember({"jpeg", "png"}))
      ->capture_default_str();
  bridge_cmd->add_option("--max-image-bytes", bridge.max_image_bytes,
                         "Larger encoded images are dropped")
      ->type_name("N")
      ->capture_default_str();
  bridge_cmd->add_option("--image-interval", bridge.image_interval,
                         "At most one image per peer per SECONDS")
      ->type_name("SECONDS");
  bridge_cmd->add_option("--qos", bridge.qos, "MQTT quality of service of publishes: 0 or 1")
      ->check(CLI::Range(0, 1))
      ->capture_default_str();
  auto* broker_access = bridge_cmd->add_option_group("Broker access");
  broker_access->add_option("--client-id", bridge.client_id, "MQTT client id (default: made up)");
  broker_access->add_option("--mqtt-user", bridge.username, "Username at the broker");
  broker_access->add_option("--mqtt-password-env", bridge.password_env,
                            "Read the broker's password from environment variable VAR")
      ->type_name("VAR");
  broker_access->add_flag("--mqtt-tls", bridge.tls, "TLS to the broker (the system's CAs)");
  broker_access->add_option("--mqtt-ca", bridge.tls_ca,
                            "TLS to the broker, checked against these CAs")
      ->type_name("FILE");
  broker_access->add_option("--mqtt-cert", bridge.tls_cert, "This side's certificate (PEM)")
      ->type_name("FILE");
  broker_access->add_option("--mqtt-key", bridge.tls_key, "The private key of --mqtt-cert (PEM)")
      ->type_name("FILE");
  bridge_cmd->add_option("-W,--timeout", bridge.timeout, "End after SECONDS")->type_name("SECONDS");
  bridge_cmd->footer(
      "Values from peers go to PREFIX/HUB/PEER/CHANNEL as JSON, retained, and images to "
      "PREFIX/HUB/PEER/image; while the broker is away only the latest value of each topic is "
      "kept, and every one is published again when it is back. Ends on Ctrl-C, printing what "
      "it did.\n" +
      std::string(addresses_help) + "\n" + exit_help);
  add_common(bridge_cmd, common);
  subcommands.push_back(bridge_cmd);
#endif

  // CLI11 would say only that a subcommand is required.
  const auto known = [&](std::string_view word) {
    for (const auto* sub : subcommands)
      if (sub->get_name() == word) return true;
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    std::string names;
    for (const auto* sub : subcommands) names += (names.empty() ? "" : ", ") + sub->get_name();
    fmt::print(stderr, "socketengine: unknown subcommand \"{}\" ({}; see socketengine --help)\n",
               argv[1], names);
    return se::exit_usage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e); // --help, --version
    fmt::print(stderr, "socketengine: {} (see socketengine --help)\n", e.what());
    return se::exit_usage;
  }

  const char* which = app.get_subcommands().front()->get_name().c_str();
  try {
    if (*listen_cmd) {
      listen.port = se::parse_port(listen_port);
      return se::run_listen(listen, common, stop);
    }
    if (*send_cmd) {
      send.has_value = value_opt->count() > 0;
      return se::run_send(send, common, stop);
    }
    if (*get_cmd) return se::run_get(get, common, stop);
    if (*discover_cmd) return se::run_discover(discover, common, stop);
    if (*bench_cmd) return se::run_bench(bench, common, stop);
    if (*watch_cmd) {
      if (!watch_port.empty()) watch.port = se::parse_port(watch_port);
      common.redial = true; // a watch outlives a peer that restarts
      return se::run_watch(watch, common, stop);
    }
    if (*view_cmd) {
      view.port = se::parse_port(view_port);
      if (!view_listen.empty()) view.listen = se::parse_port(view_listen);
      common.redial = true; // so does a view
      return se::run_view(view, common, stop);
    }
#ifdef SOCKETENGINE_CLI_MQTT
    if (*bridge_cmd) {
      if (!bridge_port.empty()) bridge.port = se::parse_port(bridge_port);
      common.redial = true; // a bridge outlives peers that restart
      return se::run_bridge(bridge, common, stop);
    }
#endif
  } catch (const se::error& e) {
    fmt::print(stderr, "socketengine {}: {}\n", which, e.what());
    return e.status();
  } catch (const std::exception& e) {
    fmt::print(stderr, "socketengine {}: {}\n", which, e.what());
    return se::exit_failure;
  }
  return se::exit_usage;
}
