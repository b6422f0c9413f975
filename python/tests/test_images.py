"""Images: NumPy arrays between Python hubs, hosts and clients, to and from a
C++ peer, and the one-image-in-flight rule (canWrite) seen from a raw socket.

Arrays are uint8 HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA), as OpenCV and
socket.engine 0.3 use them, and must arrive byte for byte.
"""

import base64

import numpy as np
import pytest

from peers import (ACK_LINE, HOST_IMAGE, HUB_IMAGE, KINDS, PATIENCE, ImageLog, RawListener,
                   RawPeer, accepted, assert_same_image, cpp_peer, eventually, image_of_line,
                   pattern_image, png_of, random_image, same_json)
from socketengine import client, connection, host, hub

# 1x1 is the smallest image; 479x641 is odd in both dimensions and large
# enough that its PNG line spans many socket reads.
SIZES = {"1x1": (1, 1), "479x641": (479, 641)}


each_kind = pytest.mark.parametrize("kind", list(KINDS))
each_size = pytest.mark.parametrize("size", list(SIZES))


def sample(kind, size, seed):
    return random_image(*SIZES[size], KINDS[kind], seed)


# --- two Python hubs ---------------------------------------------------------------

class HubPair:
    """`dialer` dialled `listener` as "cam": `local` is the dialer's
    connection, `remote` the listener's."""

    def __init__(self, dialer, listener):
        self.dialer, self.listener = dialer, listener
        dialer.connect("cam", "127.0.0.1", listener.port, timeout=PATIENCE)
        self.local = dialer.connections[0]
        self.remote = accepted(listener, "cam")

    def ends(self, direction):
        """(sending connection, receiving connection, receiving hub)."""
        if direction == "dialer_to_listener":
            return self.local, self.remote, self.listener
        return self.remote, self.local, self.dialer


@pytest.fixture
def hub_pair():
    with hub(port=0) as listener, hub(port=0) as dialer:
        yield HubPair(dialer, listener)


@each_kind
@each_size
@pytest.mark.parametrize("direction", ["dialer_to_listener", "listener_to_dialer"])
def test_array_round_trips_bit_exact_between_python_hubs(hub_pair, kind, size, direction):
    sender, receiver, receiving_hub = hub_pair.ends(direction)
    sent = sample(kind, size, seed=1)

    sender.writeImg(sent)

    got = receiver.wait_for(HUB_IMAGE, PATIENCE)
    assert_same_image(got, sent)
    # Every way of reading the latest image gives that same array.
    assert receiver.getImg() is got
    assert receiver.get(HUB_IMAGE) is got
    everyone = receiving_hub.get_all(HUB_IMAGE)
    assert len(everyone) == 1 and everyone[0] is got


def test_getImg_returns_the_same_array_until_a_new_image_arrives(hub_pair):
    first, second = random_image(6, 5, 3, seed=2), random_image(6, 5, 3, seed=3)
    hub_pair.local.writeImg(first)
    got = hub_pair.remote.wait_for(HUB_IMAGE, PATIENCE)
    assert hub_pair.remote.getImg() is got
    assert hub_pair.remote.getImg() is got  # reading does not make a new array

    # Sent when `first` is acknowledged, if it has not been yet.
    hub_pair.local.writeImg(second)
    eventually(lambda: hub_pair.remote.getImg() is not got, "the second image")
    newer = hub_pair.remote.getImg()
    assert_same_image(newer, second)
    assert hub_pair.remote.getImg() is newer
    assert_same_image(got, first)  # the array handed out earlier is left alone


def test_hub_image_writers_reach_the_connections_they_name():
    # middle dialled `left` (its local connection) and `right` dialled middle
    # (its remote connection, named "right").
    with hub(port=0) as middle, hub(port=0) as left, hub(port=0) as right:
        middle.connect("left", "127.0.0.1", left.port, timeout=PATIENCE)
        right.connect("right", "127.0.0.1", middle.port, timeout=PATIENCE)
        accepted(left, "left")
        accepted(middle, "right")
        at_left, at_right = ImageLog(left), ImageLog(right)
        frames = [random_image(24, 32, 3, seed=10 + i) for i in range(4)]

        # Each frame is awaited before the next is written, so a frame
        # sent where it should not be shows up in a log.
        middle.write_image_to_local(frames[0])
        at_left.wait_count(1)
        middle.write_image_to_remote(frames[1])
        at_right.wait_count(1)
        middle.write_image_to_name("right", frames[2])
        at_right.wait_count(2)
        middle.write_image_all(frames[3])
        left_got = at_left.wait_count(2)
        right_got = at_right.wait_count(3)

        assert len(left_got) == 2 and len(right_got) == 3
        for got, sent in zip(left_got, [frames[0], frames[3]]):
            assert_same_image(got, sent)
        for got, sent in zip(right_got, frames[1:]):
            assert_same_image(got, sent)
        assert_same_image(left.get_all(HUB_IMAGE)[0], frames[3])


def test_hub_image_getters_list_each_connections_latest_image():
    with hub(port=0) as middle, hub(port=0) as left, hub(port=0) as right:
        # Made in this order: middle's connection to left comes first.
        middle.connect("left", "127.0.0.1", left.port, timeout=PATIENCE)
        accepted(left, "left")
        right.connect("right", "127.0.0.1", middle.port, timeout=PATIENCE)
        to_left, to_right = middle.connections[0], accepted(middle, "right")
        from_left, from_right = random_image(5, 7, 1, seed=20), random_image(9, 4, 4, seed=21)

        left.write_image_all(from_left)
        right.write_image_to_local(from_right)
        to_left.wait_for(HUB_IMAGE, PATIENCE)
        to_right.wait_for(HUB_IMAGE, PATIENCE)

        def check(images, expected):
            assert len(images) == len(expected)
            for got, sent in zip(images, expected):
                assert_same_image(got, sent)

        check(middle.get_all(HUB_IMAGE), [from_left, from_right])
        check(middle.get_local(HUB_IMAGE), [from_left])
        check(middle.get_remote(HUB_IMAGE), [from_right])
        check(middle.get_by_name("right", HUB_IMAGE), [from_right])
        check(middle.get_by_name("nobody", HUB_IMAGE), [])


def test_on_image_callbacks_deliver_arrays(hub_pair):
    on_hub, on_connection = ImageLog(hub_pair.listener), ImageLog(hub_pair.remote)
    frames = [random_image(3, 4, channels, seed=30 + channels) for channels in KINDS.values()]
    for n, frame in enumerate(frames, start=1):
        hub_pair.local.writeImg(frame)
        on_connection.wait_count(n)  # one at a time: a newer frame would replace a pending one
    for log in (on_hub, on_connection):
        got = log.wait_count(len(frames))
        assert len(got) == len(frames)
        for array, sent in zip(got, frames):
            assert_same_image(array, sent)


# --- what the module accepts ---------------------------------------------------------

BASE = random_image(40, 30, 3, seed=40)
VIEWS = {
    "every_other_column": BASE[:, ::2],
    "upside_down": BASE[::-1],
    "fortran_order": np.asfortranarray(BASE),
    "one_channel_of_three": BASE[:, :, 1],
    "HxWx1": BASE[:, :, :1],
    "bgra_from_a_wider_array": np.concatenate([BASE, BASE[:, :, :1]], axis=2)[:, 1:-1],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_any_uint8_array_layout_is_sent_as_the_pixels_it_shows(hub_pair, view):
    sent = VIEWS[view]
    hub_pair.local.writeImg(sent)
    got = hub_pair.remote.wait_for(HUB_IMAGE, PATIENCE)
    expected = np.ascontiguousarray(sent)
    if expected.ndim == 3 and expected.shape[2] == 1:
        expected = expected[:, :, 0]  # one channel is gray: HxW
    assert_same_image(got, expected)


BAD_IMAGES = {
    "float_array": (np.zeros((4, 4, 3), np.float32), TypeError, "uint8"),
    "int_array": (np.zeros((4, 4), np.int64), TypeError, "uint8"),
    "two_channels": (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
    "one_dimensional": (np.zeros(16, np.uint8), ValueError, "shape"),
    "four_dimensional": (np.zeros((4, 4, 3, 1), np.uint8), ValueError, "shape"),
    "no_rows": (np.zeros((0, 4), np.uint8), ValueError, "pixel"),
    "list": ([[0, 1], [2, 3]], TypeError, "ndarray"),
    "none": (None, TypeError, "ndarray"),
}
HUB_WRITERS = {
    "connection.writeImg": lambda pair, img: pair.local.writeImg(img),
    "write_image_all": lambda pair, img: pair.dialer.write_image_all(img),
    "write_image_to_name": lambda pair, img: pair.dialer.write_image_to_name("cam", img),
    "write_image_to_local": lambda pair, img: pair.dialer.write_image_to_local(img),
    "write_image_to_remote": lambda pair, img: pair.listener.write_image_to_remote(img),
}


@pytest.mark.parametrize("writer", list(HUB_WRITERS))
@pytest.mark.parametrize("bad", list(BAD_IMAGES))
def test_bad_image_is_refused_with_a_clear_error_and_nothing_is_sent(hub_pair, bad, writer):
    data, error, mentions = BAD_IMAGES[bad]
    before = hub_pair.local.stats["messages_out"], hub_pair.remote.stats["messages_out"]
    with pytest.raises(error, match=mentions):
        HUB_WRITERS[writer](hub_pair, data)
    assert (hub_pair.local.stats["messages_out"], hub_pair.remote.stats["messages_out"]) == before
    assert hub_pair.local.canWrite and hub_pair.remote.canWrite


# --- host and client ------------------------------------------------------------------

@pytest.fixture
def host_and_client():
    with host(port=0) as h:
        h.start()
        with client(port=h.port, open=False) as c:
            c.open(timeout=PATIENCE)
            # Once a value from the client is in, the host lists it.
            c.write("hello", True)
            h.wait_for("hello", PATIENCE)
            yield h, c


@each_kind
def test_host_image_reaches_client_as_an_array(host_and_client, kind):
    h, c = host_and_client
    sent = sample(kind, "479x641", seed=50)
    h.writeImg_ALL(sent)
    got = c.wait_for(HOST_IMAGE, PATIENCE)
    assert_same_image(got, sent)
    assert c.getImg() is got
    assert c.get(HOST_IMAGE) is got


@each_kind
def test_client_image_reaches_host_as_an_array(host_and_client, kind):
    h, c = host_and_client
    sent = sample(kind, "479x641", seed=51)
    c.writeImg(sent)
    got = h.clients[0].wait_for(HOST_IMAGE, PATIENCE)
    assert_same_image(got, sent)
    everyone = h.get_ALL(HOST_IMAGE)
    assert len(everyone) == 1
    assert_same_image(everyone[0], sent)


HOST_CLIENT_WRITERS = {
    "host.writeImg_ALL": lambda h, c, img: h.writeImg_ALL(img),
    "client.writeImg": lambda h, c, img: c.writeImg(img),
}


@pytest.mark.parametrize("writer", list(HOST_CLIENT_WRITERS))
@pytest.mark.parametrize("bad", ["float_array", "two_channels", "list"])
def test_host_and_client_refuse_bad_images(host_and_client, writer, bad):
    h, c = host_and_client
    data, error, mentions = BAD_IMAGES[bad]
    with pytest.raises(error, match=mentions):
        HOST_CLIENT_WRITERS[writer](h, c, data)


# --- canWrite, seen from a raw socket peer -------------------------------------------------

@pytest.fixture(params=["hub_dials_peer", "peer_dials_hub"])
def raw_link(request):
    """A Python hub and a peer that is a bare socket, joined by one
    connection: (hub, the hub's connection, the peer)."""
    with hub(port=0) as h:
        if request.param == "hub_dials_peer":
            listener = RawListener()
            try:
                h.connect("raw", "127.0.0.1", listener.port, timeout=PATIENCE)
                peer = listener.accept()
            finally:
                listener.close()
            assert peer.read_message() == {"type": "__name_conn", "data": "raw"}
            conn = h.connections[0]
        else:
            peer = RawPeer.dial(h.port)
            peer.send("__name_conn", "raw")
            conn = accepted(h, "raw")
        try:
            yield h, conn, peer
        finally:
            peer.close()


def test_canWrite_is_false_while_an_image_is_in_flight_and_the_newest_frame_goes_on_ack(raw_link):
    h, conn, peer = raw_link
    frames = [random_image(12, 16, 3, seed=60 + i) for i in range(3)]
    assert conn.canWrite

    conn.writeImg(frames[0])
    # The peer does not acknowledge, so this cannot have changed yet.
    assert not conn.canWrite
    assert_same_image(image_of_line(peer.read_message()), frames[0])

    conn.writeImg(frames[1])
    conn.writeImg(frames[2])  # replaces frames[1] as the frame waiting for the ack
    assert not conn.canWrite
    assert peer.nothing_within(0.2), "a second image was sent before the __ack"

    peer.send_line(ACK_LINE)
    assert_same_image(image_of_line(peer.read_message()), frames[2])
    assert not conn.canWrite  # frames[2] is in flight now

    peer.send_line(ACK_LINE)
    eventually(lambda: conn.canWrite, "canWrite after the __ack")
    # frames[1] was replaced, so nothing is left to send: the next line is
    # this marker, not an image.
    conn.write("marker", "end")
    assert peer.read_message() == {"type": "marker", "data": "end"}


def test_hub_writers_keep_one_image_in_flight_per_connection(raw_link):
    h, conn, peer = raw_link
    first, second = random_image(4, 4, 1, seed=70), random_image(4, 4, 4, seed=71)
    h.write_image_all(first)
    assert not conn.canWrite
    assert_same_image(image_of_line(peer.read_message()), first)
    h.write_image_to_name("raw", second)  # waits for the __ack
    assert not conn.canWrite
    peer.send_line(ACK_LINE)
    assert_same_image(image_of_line(peer.read_message()), second)


def test_hub_acknowledges_each_image_a_socket_engine_peer_sends(raw_link):
    h, conn, peer = raw_link
    log = ImageLog(conn)
    frames = [random_image(9, 7, channels, seed=80 + channels) for channels in KINDS.values()]
    for n, frame in enumerate(frames, start=1):
        # The line exactly as socket.engine 0.3's Python package builds it.
        peer.send_line(b'{"type": "__image", "data": "' + base64.b64encode(png_of(frame)) + b'"}')
        assert peer.read_message() == {"type": "__ack", "data": "__ack"}
        assert_same_image(log.wait_count(n)[-1], frame)
    assert_same_image(conn.getImg(), frames[-1])
    assert conn.stats["errors"] == 0


# --- the C++ peer -------------------------------------------------------------------------

@pytest.fixture(params=["cpp_dials_python", "python_dials_cpp"])
def cpp_link(request):
    """A Python hub joined to the C++ peer (cpp_peer.cpp): (hub, the hub's
    connection, the peer)."""
    with hub(port=0) as h:
        cpp_dials = request.param == "cpp_dials_python"
        peer = cpp_peer("dial", str(h.port), "cpp") if cpp_dials else cpp_peer("listen")
        try:
            if cpp_dials:
                conn = accepted(h, "cpp")
                assert conn.type == connection.TYPE_REMOTE
            else:
                h.connect("py", "127.0.0.1", peer.expect("LISTENING"), timeout=PATIENCE)
                conn = h.connections[0]
                assert conn.type == connection.TYPE_LOCAL
                peer.expect("NAMED", "py")
            yield h, conn, peer
            # The peer ends when its connection does; a sanitizer report in
            # it shows as a non-zero status.
            h.close()
            assert peer.wait_exit() == 0, peer.transcript()
        finally:
            peer.stop()


@each_kind
@each_size
def test_array_round_trips_bit_exact_through_the_cpp_peer(cpp_link, kind, size):
    h, conn, peer = cpp_link
    sent = sample(kind, size, seed=90)
    conn.writeImg(sent)
    height, width = SIZES[size]
    peer.expect("GOT_IMAGE", {"width": width, "height": height, "order": kind})
    assert_same_image(conn.wait_for(HUB_IMAGE, PATIENCE), sent)


# The C++ side may hold RGB(A) images; Python gets them in OpenCV's order.
TO_PYTHON_ORDER = {"gray": None, "bgr": None, "bgra": None, "rgb": [2, 1, 0], "rgba": [2, 1, 0, 3]}


@pytest.mark.parametrize("order", list(TO_PYTHON_ORDER))
def test_cpp_peer_pattern_arrives_exactly(cpp_link, order):
    h, conn, peer = cpp_link
    height, width = SIZES["479x641"]
    conn.write("pattern", {"width": width, "height": height, "order": order})
    expected = pattern_image(height, width, len(order) if order != "gray" else 1)
    if TO_PYTHON_ORDER[order]:
        expected = expected[:, :, TO_PYTHON_ORDER[order]]
    assert_same_image(conn.wait_for(HUB_IMAGE, PATIENCE), expected)


@pytest.mark.parametrize("order", list(TO_PYTHON_ORDER))
def test_cpp_peer_raw_frames_arrive_in_python_order(cpp_link, order):
    # A raw native frame carries the sender's pixel order as it is; Python
    # gets OpenCV's order whatever the C++ side held.
    h, conn, peer = cpp_link
    eventually(lambda: conn.native, "the link to switch to the native protocol")
    height, width = SIZES["479x641"]
    conn.write("pattern", {"width": width, "height": height, "order": order, "encoding": "raw"})
    expected = pattern_image(height, width, len(order) if order != "gray" else 1)
    if TO_PYTHON_ORDER[order]:
        expected = expected[:, :, TO_PYTHON_ORDER[order]]
    assert_same_image(conn.wait_for(HUB_IMAGE, PATIENCE), expected)


def test_values_round_trip_through_the_cpp_peer(cpp_link):
    h, conn, peer = cpp_link
    sent = {"text": "caf\u00e9 \u20ac \U0001F600", "numbers": [1, -2, 2.5, 2 ** 63], "ok": True,
            "nothing": None}
    conn.write("ping", sent)
    assert same_json(conn.wait_for("pong", PATIENCE), sent)


def test_cpp_peer_sees_python_close(cpp_link):
    h, conn, peer = cpp_link
    conn.close()
    assert conn.stopped
    assert peer.expect("CLOSED")["peer_closing"], "the C++ peer did not get __closing"
    assert peer.wait_exit() == 0
