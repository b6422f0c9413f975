"""Values: what a write takes, what a read gives back (the exact Python
types), and what a write refuses."""

import array
import base64
import queue
import random

import pytest

from conftest import eventually
from peers import RawPeer, accepted
from socketengine import hub

# Value -> what the peer reads back. Strings keep their newlines: the engine
# escapes them in JSON where the 0.3 hubs stripped them (docs/legacy-protocol.md).
ROUND_TRIPS = {
    "empty str": ("", ""),
    "ascii": ("hello", "hello"),
    "non-ascii": ("café ünïcödé", "café ünïcödé"),
    "cjk": ("日本語", "日本語"),
    "emoji": ("🤖👍🏽", "🤖👍🏽"),
    "newlines kept": ("line 1\nline 2\r\n", "line 1\nline 2\r\n"),
    "quotes, backslash, tab, nul": ('say "hi" \\ \t \x00', 'say "hi" \\ \t \x00'),
    "zero": (0, 0),
    "negative": (-42, -42),
    "int64 max": (2**63 - 1, 2**63 - 1),
    "int64 min": (-2**63, -2**63),
    "uint64 max": (2**64 - 1, 2**64 - 1),
    "float": (3.25, 3.25),
    "integral float stays float": (2.0, 2.0),
    "negative zero": (-0.0, -0.0),
    "tiny float": (-5e-324, -5e-324),
    "huge float": (1.7976931348623157e308, 1.7976931348623157e308),
    "float needing 17 digits": (0.1 + 0.2, 0.1 + 0.2),
    "true": (True, True),
    "false": (False, False),
    "none": (None, None),
    "empty list": ([], []),
    "list": ([1, "two", 3.0, None, True], [1, "two", 3.0, None, True]),
    "tuple comes back a list": ((1, "two", (3, 4)), [1, "two", [3, 4]]),
    "empty dict": ({}, {}),
    "nested dict": ({"a": {"b": [1, {"c": None, "d": False}]}, "é": "ü"},
                    {"a": {"b": [1, {"c": None, "d": False}]}, "é": "ü"}),
    # Keys become strings as json.dumps writes them.
    "non-str keys": ({1: "a", 2.5: "b", False: "c", None: "d", -7: "e"},
                     {"1": "a", "2.5": "b", "false": "c", "null": "d", "-7": "e"}),
    "large str": ("x" * (1 << 20), "x" * (1 << 20)),
    "long list": (list(range(10000)), list(range(10000))),
}


def assert_same(got, expected):
    """Equal, and of exactly the same types all the way down (True is not 1,
    2.0 is not 2)."""
    assert type(got) is type(expected), "{!r} is {}, not {}".format(
        got, type(got).__name__, type(expected).__name__)
    if isinstance(expected, list):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same(g, e)
    elif isinstance(expected, dict):
        # JSON objects are unordered; the engine gives keys back sorted.
        assert got.keys() == expected.keys()
        for key in expected:
            assert_same(got[key], expected[key])
    elif isinstance(expected, float):
        assert repr(got) == repr(expected)  # tells -0.0 from 0.0
    else:
        assert got == expected


@pytest.mark.parametrize("value, expected", ROUND_TRIPS.values(), ids=list(ROUND_TRIPS))
def test_value_round_trips_between_hubs(hubs, value, expected):
    hubs.local.write("v", value)
    # hub.wait_for gives a list, so that a None value is told from no value.
    [got] = hubs.listener.wait_for("v", 5)
    assert_same(got, expected)
    assert_same(hubs.remote.get("v"), expected)


def test_value_round_trips_between_host_and_client(pair):
    value = {"n": [1, 2.0, True, None, "é\n"], "t": (1,), 3: -2**63}
    expected = {"n": [1, 2.0, True, None, "é\n"], "t": [1], "3": -2**63}
    pair.client.write("v", value)
    [got] = pair.host.wait_for("v", 5)
    assert_same(got, expected)
    pair.host.write_ALL("v", value)
    eventually(lambda: pair.client.get("v") is not None)
    assert_same(pair.client.get("v"), expected)


def test_callbacks_get_exact_types(hubs):
    got = queue.Queue()
    hubs.listener.on("v", got.put)
    hubs.local.write("v", {"b": True, "i": 1, "f": 1.0, "n": None, "l": (1,)})
    assert_same(got.get(timeout=5), {"b": True, "i": 1, "f": 1.0, "n": None, "l": [1]})


@pytest.mark.parametrize("channel", ["café", "with space", "🤖", "a/b.c", "new\nline", ""])
def test_any_channel_name(hubs, channel):
    hubs.local.write(channel, channel)
    assert hubs.remote.wait_for(channel, 5) == channel


def circular_list():
    a = [1]
    a.append(a)
    return a


def circular_dict():
    d = {}
    d["self"] = {"again": d}
    return d


# Value -> the error json.dumps (TypeError, ValueError for circular values) or
# the 64-bit range of JSON peers (ValueError) calls for.
REFUSED = {
    "object": (object(), TypeError),
    "set": ({1, 2}, TypeError),
    # Bytes go only as the whole value (see the bytes tests below): nested,
    # JSON would carry them as {"bytes": [...], "subtype": null}.
    "bytes in a list": ([b"bytes"], TypeError),
    "bytes in a dict": ({"b": b"bytes"}, TypeError),
    "bytearray deep inside": ({"a": [1, {"b": bytearray(b"x")}]}, TypeError),
    "memoryview in a tuple": ((memoryview(b"x"),), TypeError),
    "bytes key": ({b"key": 1}, TypeError),
    # Other objects with the buffer protocol are not bytes values.
    "array.array": (array.array("B", b"xyz"), TypeError),
    "nested unserialisable": ({"ok": [1, object()]}, TypeError),
    "tuple key": ({(1, 2): "tuple key"}, TypeError),
    "2**64": (2**64, ValueError),
    "-2**63 - 1": (-2**63 - 1, ValueError),
    "10**30 inside a list": ([10**30], ValueError),
    "circular list": (circular_list(), ValueError),
    "circular dict": (circular_dict(), ValueError),
}


@pytest.mark.parametrize("value, error", REFUSED.values(), ids=list(REFUSED))
def test_a_value_json_cannot_carry_raises_and_sends_nothing(hubs, value, error):
    with pytest.raises(error):
        hubs.local.write("bad", value)
    with pytest.raises(error):
        hubs.dialler.write_all("bad", value)
    # Nothing went out and the connection goes on: a later value arrives,
    # and nothing ever arrived on "bad".
    hubs.local.write("after", 1)
    assert hubs.remote.wait_for("after", 5) == 1
    assert hubs.remote.get("bad") is None
    assert hubs.local.opened and hubs.remote.opened


# --- bytes ----------------------------------------------------------------------

def native_both_ways(hubs):
    """Waits until both connections of `hubs` write the native protocol:
    bytes written before that arrive as base64 strings."""
    eventually(lambda: hubs.local.native and hubs.remote.native,
               what="both sides switch to the native protocol")


BYTES = {
    "empty": b"",
    "every byte value": bytes(range(256)),
    "1 MB": random.Random(1).randbytes(1 << 20),
}


@pytest.mark.parametrize("data", BYTES.values(), ids=list(BYTES))
def test_bytes_round_trip_between_hubs(hubs, data):
    native_both_ways(hubs)
    hubs.local.write("conn", data)  # a connection's write: the bytes' own path
    assert hubs.dialler.write_all("hub", data) == 1  # a hub's: through a value
    hubs.remote.write("back", data)
    assert_same(hubs.remote.wait_for("conn", 5), data)
    [got] = hubs.listener.wait_for("hub", 5)
    assert_same(got, data)
    assert_same(hubs.local.wait_for("back", 5), data)
    # The stored value too, through every reader.
    assert_same(hubs.remote.get("conn"), data)
    assert_same(hubs.remote.get("hub"), data)
    assert_same(hubs.listener.get_all("conn"), [data])
    assert_same(hubs.dialler.get_by_name("alpha", "back"), [data])


mutable = bytearray(b"abcdef")
ints = array.array("H", [1, 0x0203, 0xFFFF])

# A bytes-like value -> the bytes the peer reads back: bytes(value).
BYTES_LIKE = {
    "bytearray": (bytearray(b"\x00\x01\xff"), b"\x00\x01\xff"),
    "empty bytearray": (bytearray(), b""),
    "memoryview": (memoryview(b"abc"), b"abc"),
    "empty memoryview": (memoryview(b""), b""),
    "memoryview of a bytearray slice": (memoryview(mutable)[1:4], b"bcd"),
    "strided memoryview": (memoryview(b"abcdef")[::2], b"ace"),
    "memoryview of 16-bit ints": (memoryview(ints), bytes(ints)),
    "2-D memoryview": (memoryview(b"abcdef").cast("B", (2, 3)), b"abcdef"),
}


@pytest.mark.parametrize("value, expected", BYTES_LIKE.values(), ids=list(BYTES_LIKE))
def test_bytearray_and_memoryview_are_sent_as_bytes(hubs, value, expected):
    native_both_ways(hubs)
    hubs.local.write("conn", value)
    hubs.dialler.write_all("hub", value)
    assert_same(hubs.remote.wait_for("conn", 5), expected)
    [got] = hubs.listener.wait_for("hub", 5)
    assert_same(got, expected)


def test_bytes_are_copied_when_written(hubs):
    native_both_ways(hubs)
    data = bytearray(b"before")
    hubs.local.write("v", data)
    data[:] = b"after!"  # the write has taken its copy already
    assert_same(hubs.remote.wait_for("v", 5), b"before")


def test_callbacks_get_bytes(hubs):
    native_both_ways(hubs)
    got = queue.Queue()
    hubs.listener.on("b", got.put)
    hubs.remote.on("b2", got.put)
    hubs.local.write("b", bytearray(b"\x00\xff"))
    assert_same(got.get(timeout=5), b"\x00\xff")
    hubs.dialler.write_to_local("b2", b"")
    assert_same(got.get(timeout=5), b"")


def test_bytes_between_host_and_client(pair):
    # The client switches on reading the host's offer, the host's first
    # line: once a value from the host has arrived, the client writes frames.
    pair.host.write_ALL("ping", 1)
    eventually(lambda: pair.client.get("ping") == 1, what="the ping reaches the client")
    eventually(lambda: pair.conn.native, what="the host writes the native protocol")
    data = bytes(range(256)) * 3
    pair.client.write("v", data)
    [got] = pair.host.wait_for("v", 5)
    assert_same(got, data)
    assert_same(pair.conn.get("v"), data)
    assert pair.host.write_ALL("v", memoryview(data)) == 1
    eventually(lambda: pair.client.get("v") is not None)
    assert_same(pair.client.get("v"), data)
    assert_same(pair.client.wait_for("v", 5), data)


def test_bytes_reach_a_legacy_peer_as_base64(closer):
    # A bare socket playing a socket.engine 0.3 hub: it never answers the
    # native offer, so the hub goes on writing lines, with bytes as base64.
    h = closer(hub(port=0))
    peer = closer(RawPeer.dial(h.port))
    peer.send("__name_conn", "old")
    conn = accepted(h, "old")
    data = bytes(range(256))
    conn.write("conn", data)
    h.write_to_name("old", "hub", bytearray(b"\x00\xffhi"))
    conn.write("empty", b"")
    assert peer.read_message() == {"type": "conn", "data": base64.b64encode(data).decode()}
    assert peer.read_message() == {"type": "hub", "data": "AP9oaQ=="}
    assert peer.read_message() == {"type": "empty", "data": ""}
    assert not conn.native
    # What such a peer sends back is a str, as any string it writes.
    peer.send("back", "AP9oaQ==")
    assert_same(conn.wait_for("back", 5), "AP9oaQ==")


def test_nested_bytes_are_refused_saying_why(hubs):
    with pytest.raises(TypeError, match="bytes inside a list or dict cannot be sent"):
        hubs.local.write("bad", {"data": b"x"})
    with pytest.raises(TypeError, match="bytearray inside a list or dict"):
        hubs.dialler.write_all("bad", [bytearray(b"x")])
