"""A socket.engine 0.3 hub peer made of the Python standard library, numpy
and OpenCV (cv2) only, for tests/interop/opencv_interop_test.cpp: it checks
that socketengine's images are what a Python deployment of socket.engine
reads and writes, with OpenCV as the PNG codec on this side.

Usage: /usr/bin/python3 opencv_peer.py PORT

Connects to the hub listening on 127.0.0.1:PORT, names itself "py", then

 1. receives one `__image` line for each entry of CASES, in order; decodes
    each with cv2.imdecode, both IMREAD_UNCHANGED and IMREAD_ANYCOLOR (what
    the original package's decodeImg used); compares it with
    pattern(..., SALT_FROM_CPP); and answers `__ack`. Before each answer it
    listens for a moment: a sender that keeps one image in flight sends
    nothing more until then.
 2. sends pattern(..., SALT_FROM_PY) for each entry of CASES, encoded exactly
    as the original package's writeImg built its lines, one at a time,
    waiting each time for the hub's `__ack` and for `checked` carrying the
    image's index (the C++ test's word that it has compared that image:
    the hub keeps only the latest image, so the next must wait for it).
 3. says `__status`/`__closing` as the original's close() did, and waits for
    the hub to close.

Exits 0 when everything matched; otherwise prints what went wrong to stderr
and exits 1. Every socket operation is bounded by one overall deadline.
"""

import base64
import json
import select
import socket
import sys
import time

import cv2
import numpy as np

# Width, height and channel count of each image, in the order both sides
# send them. Keep in step with `cases` in opencv_interop_test.cpp.
CASES = [
    (1, 1, 1),
    (1, 1, 3),
    (1, 1, 4),
    (641, 479, 1),
    (641, 479, 3),
    (641, 479, 4),
    (2, 3, 3),
    (1, 33, 4),
    (33, 1, 1),
    (256, 7, 3),
    (5, 4, 3),
    (4, 5, 4),
]

# The two directions use different images, so an image echoed back could
# not pass for the one expected.
SALT_FROM_CPP = 1
SALT_FROM_PY = 2

OVERALL_TIMEOUT = 20.0  # seconds, for the whole exchange
# How long to listen for a premature second image before acknowledging one.
# Only a broken sender sends during it, so its length costs time but never
# makes a correct run fail.
ACK_HOLD = 0.15

ACK = b'{"type": "__ack", "data": "__ack"}\n'


class Failure(Exception):
    pass


def pattern(width, height, channels, salt):
    """The test image: smooth gradients, rings and a little hashed noise, so
    it compresses like a photo rather than a flat fill. Computed on its own
    in opencv_interop_test.cpp (expected_sample); every operation here is on
    non-negative integers, where // is C++'s /, and the hash is reduced to
    32 bits at each step as C++'s uint32_t arithmetic is."""
    y, x, c = np.meshgrid(
        np.arange(height, dtype=np.int64),
        np.arange(width, dtype=np.int64),
        np.arange(channels, dtype=np.int64),
        indexing="ij",
    )
    mask = 0xFFFFFFFF
    gx = x * 255 // max(width - 1, 1)
    gy = y * 255 // max(height - 1, 1)
    dx = x - width // 2
    dy = y - height // 2
    rings = (dx * dx + dy * dy) // 64
    hashed = (
        ((x * 73856093) & mask)
        ^ ((y * 19349663) & mask)
        ^ (((c + 1) * 83492791 + salt * 2654435761) & mask)
    )
    noise = (hashed >> 11) & 15
    v = (gx * (1 + c) + gy * (4 - c) + rings + noise + salt * 40) & 0xFF
    v = v.astype(np.uint8)
    # cv2 gives 1-channel images as 2-D arrays.
    return v[:, :, 0] if channels == 1 else v


def compare(got, expected, what):
    if got is None:
        raise Failure(f"{what}: cv2.imdecode could not decode it")
    if got.dtype != expected.dtype or got.shape != expected.shape:
        raise Failure(
            f"{what}: decoded as {got.dtype} {got.shape}, expected {expected.dtype} {expected.shape}"
        )
    if not np.array_equal(got, expected):
        where = tuple(int(i) for i in np.argwhere(got != expected)[0])
        raise Failure(
            f"{what}: {int(np.count_nonzero(got != expected))} samples differ, first at "
            f"(row, column[, channel]) {where}: got {got[where]}, expected {expected[where]}"
        )


class Peer:
    """One TCP connection reading `\\n`-terminated JSON lines."""

    def __init__(self, port, deadline):
        self.deadline = deadline
        self.buffer = bytearray()
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=self.remaining())
        except OSError as e:
            raise Failure(f"cannot connect to 127.0.0.1:{port}: {e}") from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"the exchange took longer than {OVERALL_TIMEOUT} s")
        return left

    def send(self, data):
        self.sock.settimeout(self.remaining())
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Failure(f"send failed: {e}") from e

    def receive(self, what):
        """Appends what arrives; raises if nothing does before the deadline."""
        self.sock.settimeout(self.remaining())
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout as e:
            raise Failure(f"timed out waiting for {what}") from e
        except OSError as e:
            raise Failure(f"receive failed waiting for {what}: {e}") from e
        if not chunk:
            raise Failure(f"the hub closed the connection while this side waited for {what}")
        self.buffer += chunk

    def read_message(self, what):
        while True:
            message = self.read_any_message(what)
            # socketengine's native offer: the original package stores it on
            # a channel nobody reads, and never answers.
            if message["type"] != "__native":
                return message

    def read_any_message(self, what):
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                break
            self.receive(what)
        try:
            message = json.loads(line)
        except ValueError as e:
            raise Failure(f"waiting for {what}: not JSON: {line[:200]!r}") from e
        if not isinstance(message, dict) or "type" not in message or "data" not in message:
            raise Failure(f"waiting for {what}: not a socket.engine message: {line[:200]!r}")
        return message

    def quiet_for(self, seconds):
        """True if no byte arrives within `seconds` (or the hub closes)."""
        if self.buffer:
            return False
        readable, _, _ = select.select([self.sock], [], [], min(seconds, self.remaining()))
        if not readable:
            return True
        self.sock.settimeout(self.remaining())
        try:
            chunk = self.sock.recv(1 << 16)
        except OSError:
            return True  # a reset: the next read reports it
        self.buffer += chunk
        return not chunk  # EOF: the next read reports it

    def close(self):
        """Says __closing as the original hub's close() did, then waits for
        the hub to close its side, so neither side sees a reset."""
        self.send(b'{"type": "__status", "data": "__closing"}\n')
        try:
            self.sock.shutdown(socket.SHUT_WR)
            while True:
                self.sock.settimeout(self.remaining())
                if not self.sock.recv(1 << 16):
                    break
        except socket.timeout as e:
            raise Failure("the hub did not close after __closing") from e
        except OSError as e:
            raise Failure(f"closing: {e}") from e
        finally:
            self.sock.close()


def describe(index, case):
    width, height, channels = case
    return f"image {index} ({width}x{height}, {channels} channel{'s' if channels > 1 else ''})"


def receive_images(peer):
    for index, case in enumerate(CASES):
        what = describe(index, case)
        message = peer.read_message(what)
        if message["type"] != "__image":
            raise Failure(f"expected {what} on __image, got {message['type']!r}")
        if not isinstance(message["data"], str):
            raise Failure(f"{what}: data is not a string")
        try:
            png = base64.b64decode(message["data"], validate=True)
        except ValueError as e:
            raise Failure(f"{what}: not base64: {e}") from e
        encoded = np.frombuffer(png, np.uint8)
        expected = pattern(*case, SALT_FROM_CPP)
        compare(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), expected, f"{what}, IMREAD_UNCHANGED")
        # IMREAD_ANYCOLOR keeps gray as gray and drops alpha.
        compare(
            cv2.imdecode(encoded, cv2.IMREAD_ANYCOLOR),
            expected[:, :, :3] if case[2] == 4 else expected,
            f"{what}, IMREAD_ANYCOLOR",
        )
        if not peer.quiet_for(ACK_HOLD):
            raise Failure(
                f"more data arrived after {what} before it was acknowledged: the sender "
                f"must keep one image in flight until __ack"
            )
        peer.send(ACK)


def send_images(peer):
    for index, case in enumerate(CASES):
        what = describe(index, case)
        ok, encoded = cv2.imencode(".png", pattern(*case, SALT_FROM_PY))
        if not ok:
            raise Failure(f"cv2.imencode failed for {what}")
        # The line exactly as socket.engine 0.3's writeImg built it.
        line = '{"type": "__image", "data": "' + base64.b64encode(encoded).decode() + '"}' + "\n"
        peer.send(line.encode())
        acked = checked = False
        while not (acked and checked):
            message = peer.read_message(f"__ack and checked for {what}")
            if message["type"] == "__ack" and message["data"] == "__ack" and not acked:
                acked = True
            elif message["type"] == "checked" and message["data"] == index and not checked:
                checked = True
            else:
                raise Failure(f"while waiting for __ack and checked for {what}: got {message!r}")


def main():
    if len(sys.argv) != 2:
        print("usage: opencv_peer.py PORT", file=sys.stderr)
        return 2
    deadline = time.monotonic() + OVERALL_TIMEOUT
    try:
        peer = Peer(int(sys.argv[1]), deadline)
        peer.send(b'{"type": "__name_conn", "data": "py"}\n')
        receive_images(peer)
        send_images(peer)
        peer.close()
    except Failure as e:
        print(f"opencv_peer: {e}", file=sys.stderr)
        return 1
    print(f"opencv_peer: {len(CASES)} images each way matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
