"""What the image and interop tests share: bounded waits, test images, a small
PNG codec of their own, a raw socket peer that speaks the line protocol by
hand, and peer processes (the C++ peer, the Node.js socket.engine 0.3.0 hub)
driven over their stdin and stdout.

Nothing here waits without a deadline: each wait fails the test, saying what
it waited for, once its timeout passes.
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import conftest

# How long something that should happen may take: generous, for loaded
# machines and sanitizer builds; only a failing test waits this long.
PATIENCE = 10.0

REPO = Path(__file__).resolve().parents[2]

# Channels as the seed names them (docs: legacy wire protocol).
HUB_IMAGE = "__image"
HOST_IMAGE = "image"
ACK_LINE = b'{"type":"__ack","data":"__ack"}\n'

# Channel counts of the arrays the module takes and gives back.
KINDS = {"gray": 1, "bgr": 3, "bgra": 4}


# --- waiting ---------------------------------------------------------------------

def eventually(predicate, what, timeout=PATIENCE):
    """conftest.eventually with this module's patience. For state with
    nothing to block on (canWrite, a connection's list)."""
    return conftest.eventually(predicate, timeout, what)


def accepted(h, name, timeout=PATIENCE):
    """The connection hub `h` accepted from a peer that named itself `name`
    (with `__name_conn`), once the name has arrived."""
    return eventually(lambda: next((c for c in h.connections if c.name == name), None),
                      "a connection named {!r} on {!r}".format(name, h), timeout)


class ImageLog:
    """Every image a hub, host or connection delivers to its on() callback,
    in order of arrival."""

    def __init__(self, source, channel=HUB_IMAGE):
        self.images = []
        self._cond = threading.Condition()
        source.on(channel, self._add)

    def _add(self, img):  # on the engine's callback thread
        with self._cond:
            self.images.append(img)
            self._cond.notify_all()

    def wait_count(self, n, timeout=PATIENCE):
        """Waits until `n` images have arrived; returns them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.images) >= n, timeout):
                pytest.fail("waited {} s for image {} ({} arrived)".format(
                    timeout, n, len(self.images)))
            return list(self.images)


# --- images ------------------------------------------------------------------------

def random_image(height, width, channels, seed):
    """Noise: every sample matters and PNG cannot shrink it much."""
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def pattern_image(height, width, channels):
    """The C++ peer's pattern, sample c of pixel (x, y) being
    (x*3 + y*7 + c) & 255, in the peer's memory order."""
    y, x, c = np.ogrid[:height, :width, :channels]
    img = ((x * 3 + y * 7 + c) & 255).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def assert_same_image(got, expected):
    """`got` is a uint8 array with exactly `expected`'s shape and bytes."""
    assert isinstance(got, np.ndarray), "not an array: {!r}".format(got)
    assert got.dtype == np.uint8
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), "same shape, different pixels"


# --- PNG, independent of the engine -------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> gray, RGB, RGBA
_CHANNELS = {v: k for k, v in _COLOR_TYPE.items()}


def _to_png_order(img):
    """HxWxC rows in PNG's order: OpenCV's BGR(A) becomes RGB(A)."""
    rows = img.reshape(img.shape[0], img.shape[1], -1)
    if rows.shape[2] == 3:
        return rows[:, :, [2, 1, 0]]
    if rows.shape[2] == 4:
        return rows[:, :, [2, 1, 0, 3]]
    return rows


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body +
            struct.pack(">I", zlib.crc32(kind + body)))


def png_of(img):
    """An 8-bit PNG of an OpenCV-style array (HxW gray, HxWx3 BGR, HxWx4
    BGRA), stored as socket.engine 0.3's Python package stores it: gray, RGB
    or RGBA. Row y uses PNG filter y % 5, so a decoder meets all five."""
    rows = _to_png_order(np.ascontiguousarray(img))
    height, width, channels = rows.shape
    rows = rows.reshape(height, width * channels).astype(np.int32)
    raw = bytearray()
    up = np.zeros(width * channels, np.int32)
    for y in range(height):
        cur = rows[y]
        left = np.concatenate([np.zeros(channels, np.int32), cur[:-channels]])
        up_left = np.concatenate([np.zeros(channels, np.int32), up[:-channels]])
        kind = y % 5
        predicted = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
        raw.append(kind)
        raw += ((cur - predicted) & 255).astype(np.uint8).tobytes()
        up = cur
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return (_PNG_SIGNATURE + _chunk(b"IHDR", header) +
            _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b""))


def image_of_png(data):
    """Decodes an 8-bit, non-interlaced gray, RGB or RGBA PNG (what the
    engine writes) into an OpenCV-style array: HxW, BGR or BGRA. Slow for
    Average and Paeth rows, so meant for small images."""
    assert data[:8] == _PNG_SIGNATURE, "not a PNG"
    pos, header, idat = 8, None, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, "bad CRC in chunk {!r}".format(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color in _CHANNELS, header
    channels = _CHANNELS[color]
    stride = width * channels
    raw = zlib.decompress(idat)
    assert len(raw) == height * (stride + 1), "wrong amount of pixel data"
    out = np.zeros((height, stride), np.int32)
    up = np.zeros(stride, np.int32)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        f = np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int32)
        if kind == 0:
            cur = f
        elif kind == 1:  # Sub: a running sum along each channel
            cur = np.cumsum(f.reshape(width, channels), axis=0).reshape(stride) & 255
        elif kind == 2:
            cur = (f + up) & 255
        else:  # Average and Paeth depend on the pixel just decoded
            cur = np.zeros(stride, np.int32)
            zero = np.zeros(channels, np.int32)
            for x in range(0, stride, channels):
                a = cur[x - channels:x] if x else zero
                b = up[x:x + channels]
                c = up[x - channels:x] if x else zero
                p = (a + b) // 2 if kind == 3 else _paeth(a, b, c)
                cur[x:x + channels] = (f[x:x + channels] + p) & 255
        out[y] = cur
        up = cur
    img = _to_png_order(out.astype(np.uint8).reshape(height, width, channels))  # RGB -> BGR
    return np.ascontiguousarray(img[:, :, 0] if channels == 1 else img)


def image_of_line(message):
    """The image in a parsed `__image` line."""
    assert message["type"] == HUB_IMAGE, message
    return image_of_png(base64.b64decode(message["data"], validate=True))


# --- a peer on a plain socket -----------------------------------------------------

class RawPeer:
    """One end of a TCP connection that speaks the line protocol by hand,
    with no engine in between: what it sends and reads are the bytes."""

    def __init__(self, sock):
        self.sock = sock
        self._buffer = b""

    @classmethod
    def dial(cls, port):
        return cls(socket.create_connection(("127.0.0.1", port), timeout=PATIENCE))

    def send(self, channel, data):
        """A line as socket.engine 0.3's Python package writes it
        (json.dumps: a space after ':' and ',')."""
        self.send_line(json.dumps({"type": channel, "data": data}).encode())

    def send_line(self, line):
        self.sock.sendall(line.rstrip(b"\n") + b"\n")

    def _line(self, timeout):
        """The next line, or None if none is complete within `timeout`."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return None
            if not chunk:
                pytest.fail("the connection ended while a line was awaited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def read_message(self, timeout=PATIENCE):
        """The next line, parsed; fails the test if none arrives in time.
        The engine's native offer is passed over, as socket.engine 0.3 peers
        (which this one plays) store it and never answer."""
        while True:
            line = self._line(timeout)
            if line is None:
                pytest.fail("no line arrived within {} s".format(timeout))
            message = json.loads(line)
            if message.get("type") != "__native":
                return message

    def nothing_within(self, seconds):
        """True if no complete line arrives within `seconds`. The only wait
        for something that must not happen, so keep `seconds` short."""
        return self._line(seconds) is None

    def close(self):
        self.sock.close()


class RawListener:
    """A listening socket for a hub to dial."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout=PATIENCE):
        self.sock.settimeout(timeout)
        try:
            conn, _ = self.sock.accept()
        except socket.timeout:
            pytest.fail("nobody dialled within {} s".format(timeout))
        return RawPeer(conn)

    def close(self):
        self.sock.close()


# --- peer processes ---------------------------------------------------------------

def same_json(a, b):
    """Equal as JSON values: unlike ==, True is not 1 and 1.0 is not 1."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _matches(payload, pattern):
    if pattern is None:
        return True
    if isinstance(pattern, dict):
        return isinstance(payload, dict) and all(
            k in payload and same_json(payload[k], v) for k, v in pattern.items())
    return same_json(payload, pattern)


class PeerProcess:
    """A peer program that reports events as `TAG <json>` lines on stdout and
    takes `VERB <json>` commands on stdin (the protocol of
    tests/interop/peer_common.js, which the C++ peer's events follow too).
    Killed by stop(), so a failing test never leaves one running."""

    def __init__(self, argv, name, env=None):
        self.name = name
        self._events = []  # (tag, payload) not yet taken by expect()
        self._transcript = []
        self._stderr = []
        self._eof = False
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            tag, _, rest = line.partition(" ")
            try:
                payload = json.loads(rest) if rest else None
            except ValueError:
                payload = rest
            with self._cond:
                self._transcript.append("< " + line[:300])
                self._events.append((tag, payload))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

    def transcript(self):
        with self._cond:
            lines = list(self._transcript)
        return "--- {} ---\n{}\n--- stderr ---\n{}".format(
            self.name, "\n".join(lines), "".join(self._stderr))

    def send(self, verb, payload=None):
        line = verb if payload is None else "{} {}".format(verb, json.dumps(payload))
        with self._cond:
            self._transcript.append("> " + line[:300])
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pytest.fail("{} is gone\n{}".format(self.name, self.transcript()))

    def expect(self, tag, match=None, timeout=PATIENCE):
        """Takes the first event `tag` not taken yet whose payload matches
        `match` (a dict: those keys, equal as JSON; else equal as JSON; None:
        anything) and returns its payload. An event that came early is
        still found. Fails the test on timeout, exit, or an ERROR event."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (t, payload) in enumerate(self._events):
                    if t == "ERROR":
                        pytest.fail("{} reported an error: {}\n{}".format(
                            self.name, payload, self.transcript()))
                    if t == tag and _matches(payload, match):
                        del self._events[i]
                        return payload
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    pytest.fail("{} {} {} {!r}\n{}".format(
                        self.name, "exited without" if self._eof else "sent no", tag, match,
                        self.transcript()))
                self._cond.wait(left)

    def wait_exit(self, timeout=PATIENCE):
        """The exit status, once the program has ended by itself."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("{} did not exit within {} s\n{}".format(
                self.name, timeout, self.transcript()))

    def quit(self, timeout=PATIENCE):
        """Asks the peer to exit (EXIT) and returns its exit status."""
        self.send("EXIT")
        return self.wait_exit(timeout)

    def stop(self):
        """Ends the program if it still runs, and reaps it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(PATIENCE)
        for reader in self._readers:  # they end at the pipes' EOF
            reader.join(PATIENCE)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()


def cpp_peer(*args):
    """Starts the C++ peer (cpp_peer.cpp) with `args`."""
    path = os.environ.get("SOCKETENGINE_CPP_PEER")
    if not path:
        pytest.fail("SOCKETENGINE_CPP_PEER is not set: run the tests through ctest, or set it "
                    "to the socketengine_python_cpp_peer program of the build")
    if not os.access(path, os.X_OK):
        pytest.fail("SOCKETENGINE_CPP_PEER={} is not a program: build the "
                    "socketengine_python_cpp_peer target".format(path))
    return PeerProcess([path, *args], name="C++ peer")


def node_hub(*args):
    """Starts tests/interop/node_hub.js, the published Node.js socket.engine
    0.3.0 hub, with `args` ("listen", or "dial", NAME, PORT). A missing Node
    or package fails the test: interop is part of what is promised."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the interop tests need Node.js (scripts/setup.sh "
                    "installs it)")
    peer_dir = os.environ.get("SOCKETENGINE_NODE_PEER_DIR")
    if not peer_dir:
        pytest.fail("SOCKETENGINE_NODE_PEER_DIR is not set: run the tests through ctest, or set "
                    "it to <build>/node-peer")
    modules = Path(peer_dir) / "node_modules"
    if not (modules / "socket.engine" / "package.json").is_file():
        pytest.fail("socket.engine 0.3.0 is not installed in {}: build the node_peer target "
                    "(it runs scripts/setup-node-peer.sh)".format(modules))
    env = dict(os.environ, NODE_PATH=str(modules))
    # A sanitizer runtime preloaded for the Python interpreter is not meant
    # for Node.
    env.pop("LD_PRELOAD", None)
    script = REPO / "tests" / "interop" / "node_hub.js"
    return PeerProcess([node, str(script), *args], name="Node hub", env=env)
