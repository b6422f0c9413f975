"""The `socketengine` command line: listen, send, get and watch against a
socketengine hub (this package's, on the C++ core) and against the published
Node.js socket.engine 0.3.0 hub; its exit statuses and messages; watch's
table through a pseudo-terminal.

The program is found through SOCKETENGINE_CLI (ctest sets it). Every process
started here has a deadline; no test sleeps to wait for the network.
"""

import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import numpy as np
import pytest

from cli_support import Cli, cli_env, cli_path, run, started
from peers import PATIENCE, ImageLog, eventually, node_hub, png_of, random_image
from socketengine import hub

LOCALHOST = "127.0.0.1"


@pytest.fixture
def programs():
    """programs(*args) starts the program in the background."""
    yield from started(Cli)


@pytest.fixture
def py_hub():
    with hub(port=0) as h:
        yield h


@pytest.fixture
def node():
    """node(*args) starts the Node.js socket.engine 0.3.0 hub."""
    yield from started(node_hub)


def dialled(h, name):
    """The connection `h` accepted from a peer that named itself `name` (it
    may have closed since: the program sends and exits)."""
    return eventually(lambda: next((c for c in h.connections if c.name == name), None),
                      "a connection named " + name)


# --- usage and errors ------------------------------------------------------------------

def test_help_describes_every_subcommand_and_the_exit_statuses():
    status, out, _ = run("--help")
    assert status == 0
    for word in ("listen", "send", "get", "watch", "discover", "bench", "view", "Exit status"):
        assert word in out
    # Every subcommand that speaks socket.engine's protocol takes --legacy;
    # discover speaks only its own UDP query.
    protocol = ["--legacy", "Exit status"]
    for sub, words in {"listen": ["--format", "--json", "--count", "--timeout", "--unix"] + protocol,
                       "send": ["--image", "--repeat", "--rate", "--string", "VALUE"] + protocol,
                       "get": ["CHANNEL", "--timeout"] + protocol,
                       "watch": ["ADDRESS", "--port", "--interval"] + protocol,
                       "view": ["--port", "--bind", "--connect", "--listen", "--frames",
                                "--write-timeout"] + protocol,
                       "bench": ["--quick", "--only", "--legacy", "exit status"],
                       "discover": ["--timeout", "--hub", "--peer", "--json",
                                    "Exit status"]}.items():
        status, out, _ = run(sub, "--help")
        assert status == 0, sub
        for w in words:
            assert w in out, (sub, w)


@pytest.mark.parametrize("args, status, message", [
    ([], 2, "subcommand is required"),
    (["listen", "--port", "70000"], 2, 'bad port "70000"'),
    (["send", "localhost:http", "c", "1"], 2, 'bad port "http"'),
    (["send", "1", "c", '{"x": '], 2, "not valid JSON"),
    (["send", "1", "c"], 2, "needs a CHANNEL and a VALUE"),
    (["listen", "--format", "{nope}"], 2, "bad --format"),
    (["send", "1", "--image", "/nonexistent.png"], 2, "/nonexistent.png"),
    (["watch"], 2, "ADDRESS to dial or --port"),
    (["frobnicate"], 2, "frobnicate"),
])
def test_bad_usage_is_one_line_on_stderr_and_status_2(args, status, message):
    got, out, err = run(*args)
    assert got == status, err
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def test_an_unreachable_peer_is_one_line_and_status_1():
    # A port held by a socket that does not listen: a dial is refused, and
    # no other test can take the port meanwhile.
    held = socket.socket()
    held.bind((LOCALHOST, 0))
    port = held.getsockname()[1]
    for args in (["send", str(port), "c", "1"], ["get", str(port), "c"], ["watch", str(port)]):
        status, out, err = run(*args, "--connect-timeout", "0.3")
        assert status == 1, (args, err)
        assert err.strip() == "socketengine {}: cannot connect to 127.0.0.1:{}: nothing " \
                              "answered within 0.3 s (--connect-timeout)".format(args[0], port)
    held.close()


def test_a_port_in_use_is_one_line_and_status_1(py_hub):
    status, _, err = run("listen", "--port", str(py_hub.port))
    assert status == 1
    assert err.startswith("socketengine listen: cannot listen on port {}".format(py_hub.port))
    assert len(err.strip().splitlines()) == 1, err


# --- listen --------------------------------------------------------------------------

def test_listen_prints_what_a_socketengine_hub_sends(programs):
    listen = programs("listen", "--port", "0", "--count", "4")
    port = listen.port()
    with hub(port=0) as h:
        h.connect("robot", LOCALHOST, port, timeout=PATIENCE)
        conn = h.connections[0]
        for channel, value in [("speed", 3.5), ("name", "arm one"), ("pose", {"x": 1, "y": [2]}),
                               ("ok", True)]:
            conn.write(channel, value)
        assert listen.finish() == 0
    assert listen.out == ['robot speed 3.5', 'robot name "arm one"',
                          'robot pose {"x":1,"y":[2]}', "robot ok true"]


def test_listen_unix_takes_peers_on_a_socket_file_too(programs, tmp_path):
    path = tmp_path / "listen.sock"
    listen = programs("listen", "--port", "0", "--unix", str(path), "--count", "2")
    port = listen.port()
    eventually(lambda: any(l == "listening on unix:{}".format(path) for l in listen.err),
               "the socket file announced")
    for address, value in [("unix:{}".format(path), 1), (str(port), 2)]:
        status, _, err = run("send", address, "via", str(value), "--name", "sender")
        assert status == 0, err
    assert listen.finish() == 0
    assert listen.out == ["sender via 1", "sender via 2"]


def test_listen_json_and_format(programs):
    listen = programs("listen", "--port", "0", "--count", "2", "--json")
    fmt = programs("listen", "--port", "0", "--count", "2", "--format",
                   "{peer}|{channel}|{value}|{size}|{time}")
    with hub(port=0) as h:
        for p in (listen, fmt):
            h.connect("cam", LOCALHOST, p.port(), timeout=PATIENCE)
        for c in h.connections:
            c.write("temp", 21.5)
            c.write("label", "hot")
        assert listen.finish() == 0 and fmt.finish() == 0
    records = [json.loads(line) for line in listen.out]
    assert [(r["peer"], r["channel"], r["value"], r["size"]) for r in records] == \
        [("cam", "temp", 21.5, 4), ("cam", "label", "hot", 5)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in records)
    first = fmt.out[0].split("|")
    assert first[:4] == ["cam", "temp", "21.5", "4"]
    assert fmt.out[1].split("|")[:4] == ["cam", "label", '"hot"', "5"]


def test_listen_timeout_ends_it_and_count_not_reached_is_status_3(programs):
    quiet = programs("listen", "--port", "0", "--timeout", "0.3")
    assert quiet.finish() == 0
    short = programs("listen", "--port", "0", "--count", "2", "--timeout", "0.3")
    assert short.finish() == 3
    assert short.err[-1] == "socketengine listen: 0 of 2 messages within 0.3 s"


def test_listen_prints_images_and_the_protocols_channels_only_when_asked(programs, tmp_path):
    plain = programs("listen", "--port", "0", "--count", "2")
    everything = programs("listen", "--port", "0", "--count", "3", "--all")
    img = random_image(30, 40, 3, 1)
    with hub(port=0) as h:
        for p in (plain, everything):
            h.connect("cam", LOCALHOST, p.port(), timeout=PATIENCE)
        for c in h.connections:
            c.writeImg(img)
            c.write("after", 1)
        assert plain.finish() == 0 and everything.finish() == 0
    # The image is decoded on the work thread: it may come after the value.
    assert sorted(plain.out) == ["cam after 1", "cam image <40x30 bgr image>"]
    assert 'cam __name_conn "cam"' in everything.out


def test_listen_prints_what_the_node_hub_sends(programs, node):
    listen = programs("listen", "--port", "0", "--count", "2", "--legacy")
    n = node("dial", "nodecam", str(listen.port()))
    n.expect("READY")
    n.expect("CONNECTED")
    n.send("WRITE", {"channel": "speed", "data": "3.5"})
    n.send("WRITE", {"channel": "mode", "data": "auto"})
    assert listen.finish() == 0, listen.err
    assert listen.out == ['nodecam speed "3.5"', 'nodecam mode "auto"']


# --- send ----------------------------------------------------------------------------

def test_send_writes_json_values_and_strings_to_a_socketengine_hub(py_hub):
    for args, channel, expected in [
        (["n", "42"], "n", 42),
        (["f", "2.5"], "f", 2.5),
        (["obj", '{"a": [1, null]}'], "obj", {"a": [1, None]}),
        (["quoted", '"text"'], "quoted", "text"),
        (["word", "hello world"], "word", "hello world"),
        (["forced", "42", "--string"], "forced", "42"),
    ]:
        status, _, err = run("send", "127.0.0.1:{}".format(py_hub.port), *args,
                             "--name", "cli-" + channel)
        assert status == 0, err
        conn = dialled(py_hub, "cli-" + channel)
        assert conn.wait_for(channel, PATIENCE) == expected
        assert type(conn.get(channel)) is type(expected)


def test_send_legacy_speaks_only_the_0_3_protocol(py_hub):
    for legacy in (False, True):
        name = "legacy" if legacy else "native"
        status, _, err = run("send", str(py_hub.port), "x", "1", "--name", name,
                             *(["--legacy"] if legacy else []))
        assert status == 0, err
        conn = dialled(py_hub, name)
        assert conn.wait_for("x", PATIENCE) == 1
        # A native peer's offer comes before its first value, and the hub
        # answers it by switching; a legacy peer never offers.
        if legacy:
            assert not conn.native
        else:
            eventually(lambda: conn.native, "the switch to the native protocol")


def test_send_image_files_png_and_jpeg(py_hub, tmp_path):
    # The program exits once the picture is sent, and a closed connection
    # lets go of its image: the hub's image callback keeps them.
    log = ImageLog(py_hub)
    img = random_image(48, 64, 3, 2)
    png = tmp_path / "frame.png"
    png.write_bytes(png_of(img))
    status, _, err = run("send", str(py_hub.port), "--image", str(png))
    assert status == 0, err
    assert np.array_equal(log.wait_count(1)[0], img)

    flat = np.full((48, 64, 3), (30, 120, 200), np.uint8)
    png.write_bytes(png_of(flat))
    status, _, err = run("send", str(py_hub.port), "--image", str(png), "--encoding", "jpeg")
    assert status == 0, err
    got = log.wait_count(2)[1]
    assert got.shape == flat.shape
    assert np.abs(got.astype(int) - flat.astype(int)).max() <= 4


def test_send_repeat_rate_is_paced_and_every_message_arrives(py_hub):
    seen = []
    py_hub.on("tick", lambda v: seen.append(v))
    start = time.monotonic()
    status, _, err = run("send", str(py_hub.port), "tick", "1", "--repeat", "40", "--rate",
                         "100", "--report")
    took = time.monotonic() - start
    assert status == 0, err
    eventually(lambda: len(seen) == 40, "40 ticks ({} so far)".format(len(seen)))
    # Paced: the 40th is due 0.39 s after the first.
    assert took >= 0.39
    assert re.search(r"sent 40 messages in [\d.]+ s: [\d.]+ a second; each sent after its time "
                     r"by \d+ us \(median\), \d+ us \(p99\)", err), err


def test_send_reaches_the_node_hub(node):
    n = node("listen")
    port = n.expect("READY")
    status, _, err = run("send", str(port), "speed", "3.5", "--name", "cli")
    assert status == 0, err
    n.expect("GOT", {"name": "cli", "channel": "speed", "data": 3.5})


# --- get -----------------------------------------------------------------------------

def test_get_prints_the_next_value_from_a_socketengine_hub(py_hub):
    getter = Cli("get", str(py_hub.port), "pose", "--name", "getter")
    try:
        conn = dialled(py_hub, "getter")
        conn.write("other", 1)
        conn.write("pose", {"x": 1.5})
        assert getter.finish() == 0
        assert getter.out == ['{"x":1.5}']
    finally:
        getter.stop()


def test_get_without_a_value_in_time_is_status_3(py_hub):
    status, out, err = run("get", str(py_hub.port), "nothing", "--timeout", "0.3")
    assert status == 3
    assert out == ""
    assert err.strip() == 'socketengine get: no value on "nothing" from {} within 0.3 s'.format(
        py_hub.port)


def test_get_from_the_node_hub(node):
    n = node("listen")
    port = n.expect("READY")
    getter = Cli("get", str(port), "mode", "--pretty")
    try:
        n.expect("CONNECTION")
        n.send("WRITE", {"channel": "mode", "data": "auto"})
        assert getter.finish() == 0, getter.err
        assert getter.out == ['"auto"']
    finally:
        getter.stop()


# --- watch ---------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A program on a pseudo-terminal 120 columns wide; what it draws is
    read as it comes."""

    def __init__(self, *args):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen([cli_path(), *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=cli_env(), close_fds=True)
        os.close(slave)
        self.master = master
        self.raw = ""

    def read_until(self, predicate, what, timeout=PATIENCE):
        deadline = time.monotonic() + timeout
        while not predicate(self.raw):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("waited {} s for {}; the screen:\n{}".format(
                    timeout, what, ANSI.sub("", self.raw[-3000:])))
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.raw += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the program ended
                    pytest.fail("the program ended while waiting for {}:\n{}".format(
                        what, ANSI.sub("", self.raw[-3000:])))

    def last_frame(self):
        """The table as last drawn (frames start at the cursor-home code)."""
        return ANSI.sub("", self.raw.rsplit("\x1b[H", 1)[-1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(PATIENCE)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)


def row_rate(frame, peer, channel):
    """The rate in the row of `peer` and `channel`: (figure, unit)."""
    for line in frame.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[0] == peer and cols[1] == channel:
            m = re.fullmatch(r"([\d.]+)(k?)(/s|)", cols[2])
            if m and m.group(3) == "/s":
                return float(m.group(1)) * (1000 if m.group(2) else 1), "msg"
            if m and len(cols) > 3 and cols[3] == "fps":
                return float(m.group(1)), "fps"
    return None


def test_watch_draws_a_live_table_with_rates_on_a_terminal(tmp_path):
    term = Terminal("watch", "--port", "0", "--interval", "0.2")
    senders = []
    try:
        term.read_until(lambda s: re.search(r"listening on port (\d+)", s), "the port")
        port = re.search(r"listening on port (\d+)", term.raw).group(1)
        png = tmp_path / "frame.png"
        png.write_bytes(png_of(random_image(48, 64, 3, 2)))
        senders.append(Cli("send", port, "speed", "2.5", "--repeat", "0", "--rate", "50",
                           "--name", "robot"))
        senders.append(Cli("send", port, "--image", str(png), "--repeat", "0", "--rate", "30",
                           "--name", "camera"))

        def steady(raw):
            frame = ANSI.sub("", raw.rsplit("\x1b[H", 1)[-1])
            speed, image = row_rate(frame, "robot", "speed"), row_rate(frame, "camera", "image")
            return (speed and 40 <= speed[0] <= 60 and image and image[1] == "fps" and
                    22 <= image[0] <= 38)
        term.read_until(steady, "robot's speed at about 50/s and camera's image at about 30 fps",
                        timeout=3 * PATIENCE)
        frame = term.last_frame()
        assert "PEER" in frame and "CHANNEL" in frame and "RATE" in frame
        assert "2.5" in frame and "<64x48 bgr image>" in frame
        assert "\x1b[H" in term.raw  # drawn in place, not scrolled
    finally:
        for s in senders:
            s.stop()
        term.stop()


def test_watch_prints_plain_lines_when_not_on_a_terminal(py_hub):
    watcher = Cli("watch", str(py_hub.port), "--timeout", "3", "--name", "watcher")
    try:
        conn = dialled(py_hub, "watcher")
        conn.write("temp", 21)
        assert watcher.finish() == 0, watcher.err
    finally:
        watcher.stop()
    assert watcher.out, "nothing printed"
    assert all("\x1b" not in line for line in watcher.out)
    # The peer it dialled is known by its address.
    row = r"127\.0\.0\.1:{} temp [\d.]+ msg/s \d+ B/s size 2 age [\d.]+s total 1 21$".format(
        py_hub.port)
    assert any(re.match(row, line) for line in watcher.out), watcher.out


def test_watch_dials_the_node_hub(node):
    n = node("listen")
    port = n.expect("READY")
    watcher = Cli("watch", str(port), "--timeout", "3", "--legacy")
    try:
        n.expect("CONNECTION")
        n.send("WRITE", {"channel": "mode", "data": "auto"})
        assert watcher.finish() == 0, watcher.err
    finally:
        watcher.stop()
    assert any(re.search(r" mode [\d.]+ msg/s .* total 1 \"auto\"$", line)
               for line in watcher.out), watcher.out


# --- bench ---------------------------------------------------------------------------

def test_bench_runs_the_benchmark_and_ends_with_its_json():
    status, out, err = run("bench", "--quick", "--only", "round trips: raw TCP",
                           timeout=3 * PATIENCE)
    assert status == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["tcp_rtt_p50_us"] > 0
    assert figures["quick"] is True
    assert "round trips: raw TCP" in err


def test_bench_legacy_measures_socketengine_as_socket_engine_0_3_speaks():
    status, out, err = run("bench", "--quick", "--legacy", "--only", "round trips",
                           timeout=3 * PATIENCE)
    assert status == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["legacy"] is True
    assert figures["legacy_rtt_p50_us"] > 0
    assert figures["tcp_rtt_p50_us"] > 0  # what it is measured beside still runs
    assert figures["native_rtt_p50_us"] is None
    assert "round trips: socketengine native" not in err


def test_bench_shows_the_case_running_on_a_terminal():
    term = Terminal("bench", "--quick", "--only", "round trips: raw TCP")
    try:
        term.read_until(lambda s: re.search(r"\[1\] round trips: raw TCP: [\d.]+ s", s),
                        "the finished case with its time", timeout=3 * PATIENCE)
        assert term.proc.wait(PATIENCE) == 0
    finally:
        term.stop()


# --- signals -------------------------------------------------------------------------

def test_ctrl_c_ends_get_with_status_130(py_hub):
    getter = Cli("get", str(py_hub.port), "never", "--timeout", "60", "--name", "getter")
    try:
        dialled(py_hub, "getter")
        getter.proc.send_signal(signal.SIGINT)
        assert getter.finish() == 130
    finally:
        getter.stop()


def test_a_signal_ends_an_endless_send_with_status_0(py_hub):
    for how in (signal.SIGINT, signal.SIGTERM):
        name = "endless-" + str(int(how))
        sender = Cli("send", str(py_hub.port), "x", "1", "--repeat", "0", "--name", name)
        try:
            conn = dialled(py_hub, name)
            conn.wait_for("x", PATIENCE)
            sender.proc.send_signal(how)
            assert sender.finish() == 0, sender.err
        finally:
            sender.stop()


def test_a_signal_before_the_count_is_done_is_status_130(py_hub, programs):
    sender = programs("send", str(py_hub.port), "x", "1", "--repeat", "1000", "--rate", "10",
                      "--name", "counted")
    conn = dialled(py_hub, "counted")
    conn.wait_for("x", PATIENCE)
    sender.proc.send_signal(signal.SIGTERM)
    assert sender.finish() == 130

    counting = programs("listen", "--port", "0", "--count", "5")
    counting.port()
    counting.proc.send_signal(signal.SIGINT)
    assert counting.finish() == 130
    endless = programs("listen", "--port", "0")
    endless.port()
    endless.proc.send_signal(signal.SIGINT)
    assert endless.finish() == 0


def test_a_signal_reaches_the_benchmark_bench_runs():
    bench = Cli("bench", "--only", "frames: raw TCP")  # about 9 s when left alone
    try:
        bench.wait_for(lambda: any("frames: raw TCP" in line for line in bench.err),
                       "the case to start")
        bench.proc.send_signal(signal.SIGTERM)
        assert bench.finish() == 130
    finally:
        bench.stop()
