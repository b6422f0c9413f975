"""`socketengine view` against what is not a well-behaved browser: other
paths and methods, unknown subprotocols, garbage, oversized and malformed
messages, clients that stop reading, too many clients. Each is cut off or
bounded, and the viewer goes on showing the peers to everyone else.

The clients here are raw sockets and Debian's python3-websocket; the page in
a real browser is test_viewer_browser.py, Foxglove's client
test_viewer_foxglove.py. Every wait has a deadline.
"""

import base64
import json
import signal
import socket
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import websocket

from cli_support import Cli, run, started
from peers import PATIENCE, eventually, node_hub, png_of

PAGE = "socketengine.viewer.v1"
FOXGLOVE = "foxglove.websocket.v1"


@pytest.fixture
def programs():
    yield from started(Cli)


@pytest.fixture
def viewer(programs):
    """viewer(*options) starts `socketengine view` with its page on a free
    port and its hub listening on another; returns (program, "host:port" of
    the page, the hub's port). Each ends at teardown as Ctrl-C ends it, and
    must end well: status 0 (a sanitizer's report would change it)."""
    started_here = []

    def start(*options):
        v = programs("view", "--port", "0", "--listen", "0", *options)
        started_here.append(v)
        url = v.announced(r"viewer on http://(\S+)/", "the viewer's address")
        return v, url, v.port()
    yield start
    for v in started_here:
        v.proc.send_signal(signal.SIGINT)
        assert v.finish() == 0, "\n".join(v.err)


@pytest.fixture
def camera(programs, tmp_path):
    """camera(hub_port) streams a 640x480 picture as JPEG at 30 frames a
    second to the viewer's hub, as peer "camera"."""
    y, x = np.mgrid[0:480, 0:640]
    picture = np.dstack([x * 255 // 640, y * 255 // 480, (x + y) % 256]).astype(np.uint8)
    path = tmp_path / "camera.png"
    path.write_bytes(png_of(picture))

    def start(hub_port):
        return programs("send", "127.0.0.1:{}".format(hub_port), "--image", str(path), "--repeat",
                        "0", "--rate", "30", "--encoding", "jpeg", "--name", "camera")
    return start


@pytest.fixture
def node():
    """node(*args) starts the Node.js socket.engine 0.3.0 hub."""
    yield from started(node_hub)


def send_value(hub_port, channel, value, peer="sensor"):
    status, _, err = run("send", "127.0.0.1:{}".format(hub_port), channel, json.dumps(value),
                         "--name", peer)
    assert status == 0, err


class Page:
    """A client of the page's protocol, as the page itself is: it keeps the
    topics and latest values from the state messages, and acknowledges each
    frame."""

    def __init__(self, address, ack=True, **options):
        self.ws = websocket.create_connection("ws://{}/ws".format(address), subprotocols=[PAGE],
                                              timeout=PATIENCE, **options)
        self.ack = ack
        self.topics, self.values, self.frames, self.sizes = {}, {}, [], []

    def take(self):
        """One message, folded into what is known."""
        opcode, data = self.ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            state = json.loads(data)
            for t in state["topics"]:
                self.topics[t["id"]] = (t["peer"], t["channel"])
            for v in state["values"]:
                self.values[self.topics[v["id"]]] = v["value"]
        elif opcode == websocket.ABNF.OPCODE_BINARY:
            assert data[:4] == b"SEV1"
            stream, seq = struct.unpack_from("<IQ", data, 4)
            self.frames.append((stream, seq, data[36:]))
            self.sizes.append(struct.unpack_from("<II", data, 24))  # width, height
            if self.ack:
                self.ws.send(json.dumps({"ack": stream, "seq": seq}))

    def until(self, predicate, what, timeout=PATIENCE):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail("waited {} s for {}".format(timeout, what))
            self.take()

    def close_code(self, timeout=PATIENCE):
        """The code of the close frame the viewer sends, reading until it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.ws.recv_frame()
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", frame.data[:2])[0]
        pytest.fail("no close frame in {} s".format(timeout))


def http_get(address, path, method="GET"):
    request = urllib.request.Request("http://{}{}".format(address, path), method=method)
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def closed_by_peer(sock, timeout=PATIENCE):
    """True once the other side has closed `sock` (everything it sent read
    and dropped), False if it is still sending at the deadline."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


@pytest.mark.parametrize("args, message", [
    ((), "view needs peers"),
    (("--listen", "0", "--frames", "gif"), "--frames"),
    (("--listen", "0", "--jpeg-quality", "0"), "--jpeg-quality"),
    (("--connect", "nowhere:99999"), "bad port"),
])
def test_bad_usage_is_one_line_and_status_2(args, message):
    status, _, err = run("view", "--port", "0", *args)
    assert status == 2 and message in err and err.count("\n") == 1, err


def test_a_page_port_in_use_is_one_line_and_status_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status, _, err = run("view", "--listen", "0", "--port", str(taken.getsockname()[1]))
    assert status == 1 and "cannot serve the viewer on 127.0.0.1:" in err, err


def test_the_page_is_served_on_localhost_only_unless_bind_says_otherwise(viewer):
    _, address, _ = viewer()
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert http_get(address, "/")[0] == 200
    # Another loopback address reaches every socket bound to all addresses,
    # but not one bound to 127.0.0.1.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", int(port)), timeout=PATIENCE)
    _, everywhere, _ = viewer("--bind", "0.0.0.0")
    socket.create_connection(("127.0.0.2", int(everywhere.rsplit(":", 1)[1])),
                             timeout=PATIENCE).close()


def test_the_page_is_served_at_the_root_and_nothing_else(viewer):
    _, address, _ = viewer()
    status, kind, body = http_get(address, "/")
    assert status == 200 and kind.startswith("text/html")
    assert b"socketengine view" in body and b"socketengine.viewer.v1" in body
    assert http_get(address, "/secret")[0] == 404
    assert http_get(address, "/", "POST")[0] == 405
    assert http_get(address, "/", "HEAD")[:2] == (200, "text/html; charset=utf-8")


def test_a_websocket_without_a_known_subprotocol_is_refused(viewer):
    _, address, _ = viewer()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection("ws://{}/ws".format(address), subprotocols=["chat"],
                                    timeout=PATIENCE)
    assert refused.value.status_code == 400


def test_the_page_protocol_shows_peers_values_and_frames(viewer, camera):
    _, address, hub_port = viewer()
    send_value(hub_port, "temperature", {"c": 21.5})
    camera(hub_port)
    page = Page(address)
    page.until(lambda: page.values.get(("sensor", "temperature")) == {"c": 21.5},
               "the sensor's value")
    page.until(lambda: len(page.frames) >= 5, "five frames")
    stream, seq, jpeg = page.frames[-1]
    assert page.topics[stream] == ("camera", "image")
    assert jpeg[:3] == b"\xff\xd8\xff"
    seqs = [s for _, s, _ in page.frames]
    assert seqs == sorted(set(seqs)), "each frame once, oldest first"
    send_value(hub_port, "temperature", {"c": 22})
    page.until(lambda: page.values[("sensor", "temperature")] == {"c": 22}, "the newer value")


def test_a_socket_engine_0_3_node_hub_shows_its_values_and_pictures(viewer, node):
    # The published Node.js package dials the viewer's hub, which speaks only
    # socket.engine 0.3's protocol: its value, and its picture (base64 PNG,
    # decoded and sent to the page as JPEG), reach the page.
    _, address, hub_port = viewer("--legacy")
    n = node("dial", "node-cam", str(hub_port))
    n.expect("READY")
    n.expect("CONNECTED")
    page = Page(address)
    n.send("WRITE", {"channel": "mode", "data": "auto"})
    page.until(lambda: page.values.get(("node-cam", "mode")) == "auto", "the Node hub's value")
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:] = (30, 200, 90)  # BGR
    n.send("WRITE_IMG", base64.b64encode(png_of(picture)).decode())
    page.until(lambda: page.frames, "the Node hub's picture")
    stream, _, jpeg = page.frames[-1]
    assert page.topics[stream] == ("node-cam", "image")
    assert page.sizes[-1] == (64, 48), "not the picture sent"
    assert jpeg[:3] == b"\xff\xd8\xff"


def test_without_an_acknowledgement_no_second_frame_is_sent(viewer, camera):
    _, address, hub_port = viewer()
    camera(hub_port)
    page = Page(address, ack=False)
    page.until(lambda: page.frames, "a first frame")
    # States keep coming (rates, ages); frames must not, until acknowledged.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        page.take()
    assert len(page.frames) == 1
    stream, seq, _ = page.frames[0]
    page.ws.send(json.dumps({"ack": stream, "seq": seq}))
    page.until(lambda: len(page.frames) == 2, "the frame after the acknowledgement")
    assert page.frames[1][1] > seq + 5, "the latest frame, not the one after the first"


def test_a_foxglove_client_is_greeted_with_an_advertise_even_before_any_topic(viewer):
    _, address, _ = viewer()
    fox = websocket.create_connection("ws://{}/".format(address), subprotocols=[FOXGLOVE],
                                      timeout=PATIENCE)
    assert json.loads(fox.recv())["op"] == "serverInfo"
    assert json.loads(fox.recv()) == {"op": "advertise", "channels": []}


def test_a_foxglove_client_holds_one_subscription_per_channel(viewer):
    _, address, hub_port = viewer()
    send_value(hub_port, "temperature", 21.5)
    fox = websocket.create_connection("ws://{}/".format(address), subprotocols=[FOXGLOVE],
                                      timeout=PATIENCE)
    channel = None
    while channel is None:
        message = json.loads(fox.recv())
        if message["op"] == "advertise" and message["channels"]:
            channel = message["channels"][0]["id"]
    fox.send(json.dumps({"op": "subscribe", "subscriptions": [
        {"id": n, "channelId": channel} for n in range(1, 1001)]}))
    statuses = []
    while len(statuses) < 1:
        opcode, data = fox.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            statuses.append(json.loads(data))
    assert statuses[0]["op"] == "status" and statuses[0]["level"] == 2
    assert "subscribed to already" in statuses[0]["message"]


def test_garbage_on_the_port_is_cut_off_and_the_viewer_goes_on(viewer):
    _, address, hub_port = viewer()
    host, port = address.rsplit(":", 1)
    for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(300),
                    b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
                    bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8))):
        with socket.create_connection((host, int(port)), timeout=PATIENCE) as s:
            try:
                s.sendall(garbage)
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert closed_by_peer(s), "the viewer kept a connection that sent garbage"
    send_value(hub_port, "after", 1)
    page = Page(address)
    page.until(lambda: page.values.get(("sensor", "after")) == 1, "a value after the garbage")


@pytest.mark.parametrize("message, code, why", [
    ("x" * 5000, 1009, "too big"),
    ("hello", 1008, "not JSON"),
    (json.dumps({"ack": "one"}), 1008, "not an acknowledgement"),
    (b"\x00\x01", 1008, "binary"),
])
def test_a_bad_message_closes_that_client_only(viewer, message, code, why):
    _, address, hub_port = viewer()
    bad, good = Page(address), Page(address)
    if isinstance(message, bytes):
        bad.ws.send_binary(message)
    else:
        bad.ws.send(message)
    assert bad.close_code() == code, why
    send_value(hub_port, "still", True)
    good.until(lambda: good.values.get(("sensor", "still")) is True, "a value on the good client")


def stuck_foxglove_client(address):
    """A Foxglove client, subscribed to the camera, that never reads: its
    small receive buffer closes its window after a few kilobytes."""
    stuck = websocket.create_connection(
        "ws://{}/".format(address), subprotocols=[FOXGLOVE], timeout=PATIENCE,
        sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    image_channel = None
    while image_channel is None:
        message = json.loads(stuck.recv())
        if message["op"] == "advertise":
            image_channel = next((c["id"] for c in message["channels"]
                                  if c["topic"] == "/camera/image"), None)
    stuck.send(json.dumps({"op": "subscribe",
                           "subscriptions": [{"id": 1, "channelId": image_channel}]}))
    return stuck


def a_page_and_a_stuck_client(viewer, camera, write_timeout, frames_meanwhile):
    """Starts the viewer (with --write-timeout), the camera, a page and a
    Foxglove client that never reads; returns once the page has shown
    `frames_meanwhile` more frames: (page, stuck client, the viewer's
    port, the stuck client's port)."""
    _, address, hub_port = viewer("--write-timeout", str(write_timeout))
    camera(hub_port)
    page = Page(address)
    page.until(lambda: page.frames, "a first frame on the page")
    stuck = stuck_foxglove_client(address)
    shown = len(page.frames)
    page.until(lambda: len(page.frames) >= shown + frames_meanwhile, "frames on the page meanwhile")
    return page, stuck, int(address.rsplit(":", 1)[1]), stuck.sock.getsockname()[1]


def test_a_foxglove_client_that_never_reads_is_cut_off_while_a_page_goes_on(viewer, camera):
    # Foxglove's protocol has no acknowledgements, so frames flow until the
    # viewer's socket holds as much unsent as it takes; then the one in
    # flight waits, and past --write-timeout the client is cut off. The
    # page meanwhile gets frames: 30 a second for 1 s.
    page, _stuck, viewer_port, client_port = a_page_and_a_stuck_client(viewer, camera, 1, 30)
    # Closed with data still unsent, the viewer's socket waits in FIN-WAIT-1
    # for a window the client never opens: visible without reading a byte.
    eventually(lambda: tcp_socket(viewer_port, client_port)[0] != "established",
               "the viewer to cut off the client that never reads")
    shown = len(page.frames)
    page.until(lambda: len(page.frames) >= shown + 10, "frames on the page after")


def test_frames_for_a_client_that_stops_reading_do_not_pile_up_in_the_kernel(viewer, camera):
    # Unbounded, the viewer's send buffer grows to megabytes: seconds of
    # stale frames. Bounded, it holds little more than the limit on unsent
    # bytes (128 KiB) and one frame, however long the client stalls: here
    # three seconds of frames at 30 a second, seen by the page.
    _, _stuck, viewer_port, client_port = a_page_and_a_stuck_client(viewer, camera, 60, 90)
    state, queued = tcp_socket(viewer_port, client_port)
    assert state == "established"
    assert queued < 512 * 1024, "{} bytes wait for a client that does not read".format(queued)


TCP_STATES = {1: "established", 4: "fin-wait-1", 5: "fin-wait-2", 7: "close", 8: "close-wait"}


def tcp_socket(local_port, remote_port):
    """(state, bytes in the send queue) of this machine's IPv4 socket from
    local_port to remote_port; ("gone", 0) if there is none."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], int(fields[3], 16)
            if (int(local.split(":")[1], 16) == local_port and
                    int(remote.split(":")[1], 16) == remote_port):
                queued = int(fields[4].split(":")[0], 16)
                return TCP_STATES.get(state, str(state)), queued
    return "gone", 0


def test_more_clients_than_allowed_are_turned_away(viewer):
    _, address, _ = viewer("--max-clients", "2")
    first, second = Page(address), Page(address)
    with pytest.raises((websocket.WebSocketException, ConnectionError, OSError)):
        Page(address)
    first.ws.close()
    # Its place frees once the viewer has seen it go.
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            third = Page(address)
            break
        except (websocket.WebSocketException, ConnectionError, OSError):
            if time.monotonic() > deadline:
                pytest.fail("no room for a client after one left")
            time.sleep(0.05)
    third.take()  # its first state: it is served
    second.ws.close()
